"""Responsibility routing: rules as data over a compiled spatial index, with explained decisions."""

from gis.routing.decision import Decision
from gis.routing.router import Router, RoutingData, default_fallback
from gis.routing.rules import DISPUTE, GAP, OK, STATUS_NAMES

__all__ = ["DISPUTE", "GAP", "OK", "STATUS_NAMES", "Decision", "Router", "RoutingData", "default_fallback"]
