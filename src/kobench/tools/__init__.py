"""Offline stand-ins and catalogue checks: tiny models, hub-faithful fixtures, `kobench models`."""
