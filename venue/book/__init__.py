from venue.book.book import Level, OrderBook

__all__ = ["Level", "OrderBook"]
