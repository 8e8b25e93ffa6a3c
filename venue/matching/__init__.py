from venue.matching.engine import Counters, MatchingEngine

__all__ = ["Counters", "MatchingEngine"]
