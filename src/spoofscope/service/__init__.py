"""The spoofscope service: HTTP and WebSocket API, persistence, jobs, review queue, web page."""
