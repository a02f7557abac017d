"""Live status: heartbeats of every role, feed health, delivery backlog and end-to-end latency."""
