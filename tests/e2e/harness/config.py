"""Addresses and ports of the local stand-ins. The scenarios README fixes 8443; the E2E_*
overrides exist for a machine where a port is taken."""

import os

HTTPS_PORT = int(os.environ.get("E2E_HTTPS_PORT", "8443"))
HTTP_PORT = int(os.environ.get("E2E_HTTP_PORT", "8080"))
SINK_PORT = int(os.environ.get("E2E_SINK_PORT", "9009"))
PROXY_PORT = int(os.environ.get("E2E_PROXY_PORT", "3128"))
PROXY_LISTEN = f"127.0.0.1:{PROXY_PORT}"
RESOLVER_ADDRESS = os.environ.get("E2E_RESOLVER_ADDRESS", "127.0.0.2")
# The resolver answers DNS_NAME with an address no --resolve test uses, so a flow to it can
# only be named through the DNS answer.
DNS_NAME = "pastebin.com"
DNS_ADDRESS = "127.0.0.5"
# run --listen (the monitor's /metrics, /healthz, /readyz) and the Prometheus server scraping it.
METRICS_PORT = int(os.environ.get("E2E_METRICS_PORT", "9464"))
# Not 9090: installing the prometheus package starts its own server there on a systemd host.
PROMETHEUS_PORT = int(os.environ.get("E2E_PROMETHEUS_PORT", "19090"))
