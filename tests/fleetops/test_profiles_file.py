"""A charger profiles file that cannot be used stops the start, saying why."""

from __future__ import annotations

import pytest

from tests.conftest import make_settings
from volta.app import Volta
from volta.blocks.charger_profiles.profiles import ProfileError


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
async def test_a_broken_profiles_file_stops_the_start(database, tmp_path):
    path = tmp_path / "profiles.toml"
    path.write_text('[[profile]]\nid = "x"\nvendor = "a"\nfirmware = 3\n')
    app = Volta(make_settings(database, charger_profiles_file=str(path)), db_schema=database.schema)
    with pytest.raises(ProfileError, match="firmware"):
        await app.start()
    missing = make_settings(database, charger_profiles_file=str(tmp_path / "none.toml"))
    with pytest.raises(ProfileError, match=r"none\.toml"):
        await Volta(missing, db_schema=database.schema).start()
