import pytest
pytestmark = pytest.mark.faults
def test_probe(emulator_thread):
    assert True
