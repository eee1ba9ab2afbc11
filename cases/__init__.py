"""Case handling: working-time deadlines on a holiday calendar and the case workflow (pure logic)."""
