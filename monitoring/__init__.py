"""PTZ fleet monitoring: telemetry, scans, history, cloud storage, notifications, fleet runs."""
