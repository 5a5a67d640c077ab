"""Health checks: discovery, trust policy, runner, results."""
