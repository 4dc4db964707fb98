from cli.config_doc import DOC, render


def test_configuration_doc_matches_the_settings_classes() -> None:
    assert DOC.read_text(encoding="utf-8") == render(), "run: python -m cli.config_doc"


def test_every_database_url_is_documented() -> None:
    text = render()
    for service in ("NEEDS", "RESOURCES"):
        assert f"`LIANJIE_{service}_DATABASE_URL`" in text
