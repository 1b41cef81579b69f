"""The tunnel stack (a live broker, guacd and websockify on real desktops) for every module here."""

from tests.tunnels.test_tunnel import stack  # noqa: F401 - a fixture
