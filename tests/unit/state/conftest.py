from tests.unit.disk.conftest import fake_smartctl  # noqa: F401 - the fake smartctl fixture
