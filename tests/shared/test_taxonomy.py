from shared import taxonomy


def test_every_required_top_level_family_is_present() -> None:
    required = {
        "basic_living", "medical", "rehabilitation", "employment", "education", "housing",
        "elderly_care", "child_welfare", "disability", "psychological", "legal_aid",
        "emergency", "micro_wish",
    }  # fmt: skip
    tops = {c.code for c in taxonomy.CATEGORIES.values() if c.parent is None}
    assert required == tops


def test_every_category_has_both_labels_and_a_known_parent() -> None:
    for category in taxonomy.CATEGORIES.values():
        assert category.zh and category.en
        assert category.parent is None or category.parent in taxonomy.CATEGORIES


def test_parent_category_serves_child_need_better_than_the_reverse() -> None:
    assert taxonomy.category_fit("medical", "medical.rehabilitation") == taxonomy.PARENT_FIT
    assert taxonomy.category_fit("medical.rehabilitation", "medical") == taxonomy.CHILD_FIT
    assert taxonomy.EXACT_FIT > taxonomy.PARENT_FIT > taxonomy.CHILD_FIT > 0
    assert taxonomy.category_fit("housing", "medical.clinic") == 0.0
    assert taxonomy.category_fit("housing.repair", "housing.rent") == 0.0


def test_compatible_offers_lists_exact_parent_and_children() -> None:
    assert taxonomy.compatible_offers("medical.clinic") == ["medical.clinic", "medical"]
    offers = taxonomy.compatible_offers("legal_aid")
    assert offers[0] == "legal_aid"
    assert set(offers[1:]) == {"legal_aid.consultation", "legal_aid.representation"}
    assert taxonomy.compatible_offers("nonsense") == []
