"""aiortc media worker pool (SFU): forwarding plan, messages, workers and the pool."""
