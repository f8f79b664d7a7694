"""End-to-end harness for exfilwatch: the monitor under test, local stand-ins for web services
and DNS, private /etc views, a fake HOME, and the scenarios with their pass/fail rules."""

from .fakehome import FakeHome
from .monitor import Monitor, replay, require_root, validate_ndjson
from .namespaces import PrivateView, private_hosts, private_resolver
from .records import alerts, as_list, get, has, is_action, read_ndjson, summarize
from .scenarios import (ALL, ATTACKS, BENIGN, Scenario, alert_threshold, assert_alert,
                        assert_silent, check_service_saw, execute, find_threshold, is_alert,
                        matching_alerts, run_scenario)
from .services import (ConnectProxy, Resolver, SERVICE_NAMES, StandInService, dns_query,
                       make_certificate, wait_until)

__all__ = [
    "ALL", "ATTACKS", "BENIGN", "ConnectProxy", "FakeHome", "Monitor", "PrivateView",
    "Resolver", "SERVICE_NAMES", "Scenario", "StandInService", "alert_threshold", "alerts",
    "as_list", "assert_alert", "assert_silent", "check_service_saw", "dns_query", "execute",
    "find_threshold", "get", "has", "is_action", "is_alert", "make_certificate",
    "matching_alerts", "private_hosts", "private_resolver", "read_ndjson", "replay",
    "require_root", "run_scenario", "summarize", "validate_ndjson", "wait_until",
]
