"""The dashboard: server-rendered pages over the JSON API, with ECharts served locally."""
