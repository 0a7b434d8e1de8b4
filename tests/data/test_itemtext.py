from textcode.data.itemtext import MAX_FIELD_CHARS, clean, field, item_text


def test_clean_unescapes_html_and_deletes_quotes():
    assert clean("Glue &amp; Tape &quot;Original&quot;") == "Glue & Tape Original."
    assert clean('12"x12" Sheet') == "12x12 Sheet."  # deleted, as UniSRec does, not replaced by a space


def test_clean_turns_line_breaks_and_tabs_into_single_spaces():
    assert clean("Safety Glasses\nClear\r\nLens\t 2  Pack") == "Safety Glasses Clear Lens 2 Pack."


def test_clean_keeps_exactly_one_trailing_period():
    assert clean("Count...") == "Count."
    assert clean("Count . . ") == "Count."
    assert clean("No period") == "No period."
    assert clean("  ...  ") == ""
    assert clean("") == ""


def test_field_joins_list_parts_once_in_order():
    assert field(["Industrial & Scientific", "Lab", "Industrial & Scientific", " ", "Gloves"]) == \
        "Industrial & Scientific Lab Gloves."


def test_field_flattens_nested_category_lists():
    assert field([["Beauty", "Skin Care"], ["Beauty", "Face"]]) == "Beauty Skin Care Face."


def test_field_skips_non_text_parts_and_none():
    assert field(None) == ""
    assert field(["A", None, 3, "B"]) == "A B."


def test_field_drops_text_of_2000_chars_or_more_after_cleaning():
    assert field("x" * (MAX_FIELD_CHARS - 2)) == "x" * (MAX_FIELD_CHARS - 2) + "."  # 1999 chars: kept
    assert field("x" * (MAX_FIELD_CHARS - 1)) == ""  # 2000 with the period: dropped
    # entities shrink when unescaped: the limit applies to the cleaned text, as in UniSRec
    assert field("&amp;" * 500) == "&" * 500 + "."


def test_item_text_joins_non_empty_fields():
    assert item_text("Digital Caliper", ["Tools", "Measuring"], "Neiko") == "Digital Caliper. Tools Measuring. Neiko."
    assert item_text("Digital Caliper", [], "") == "Digital Caliper."
    assert item_text("x" * 3000, ["Tools"], None) == "Tools."
    assert item_text(None, None, None) == ""
