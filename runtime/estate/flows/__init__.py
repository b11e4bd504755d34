"""Reference event flows of the estate: workers that turn JetStream events into stored state."""
