"""Market data: the public book projected from the kernel's events (book.py, pure) and the
service that serves it to market_data sessions (service.py). spec/market-data.md."""
