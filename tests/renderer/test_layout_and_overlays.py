"""Profiles, composition of the portrait into the frame, captions and the badge."""

from __future__ import annotations

import numpy as np
import pytest

from renderer import PROFILES, RenderError, profile_for_platform
from renderer.layout import compose_still
from renderer.overlays import badge_layer, build_cues, find_font
from renderer.speech import resolve_voice, synthesize


def test_platforms_map_to_profiles() -> None:
    assert profile_for_platform("tiktok").name == "vertical_720x1280"
    assert profile_for_platform("instagram").name == "vertical_720x1280"
    assert profile_for_platform("youtube").name == "landscape_1280x720"
    assert (PROFILES["vertical_720x1280"].width, PROFILES["vertical_720x1280"].height) == (
        720,
        1280,
    )
    assert (PROFILES["landscape_1280x720"].width, PROFILES["landscape_1280x720"].height) == (
        1280,
        720,
    )
    assert (PROFILES["square_1080"].width, PROFILES["square_1080"].height) == (1080, 1080)
    with pytest.raises(RenderError) as caught:
        profile_for_platform("print")
    assert caught.value.code == "invalid_profile"


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_composition_places_the_face_and_an_even_head_box(name: str, astronaut, analysis) -> None:
    profile = PROFILES[name]
    points = analysis.landmarks_px(width=512, height=512)
    composition = compose_still(portrait=astronaut, landmarks=points, profile=profile)
    assert composition.still.shape == (profile.height, profile.width, 3)
    x0, y0, x1, y1 = composition.head_box
    assert all(v % 2 == 0 for v in composition.head_box)
    assert 0 <= x0 < x1 <= profile.width and 0 <= y0 < y1 <= profile.height
    face = composition.landmarks
    assert (face[:, 0] > x0).all() and (face[:, 0] < x1).all()
    assert (face[:, 1] > y0).all() and (face[:, 1] < y1).all()
    height = np.linalg.norm(face[152] - face[10])
    assert height == pytest.approx(profile.face_height * profile.height, rel=0.02)
    centre_y = (face[10, 1] + face[152, 1]) / 2
    assert centre_y == pytest.approx(profile.face_centre_y * profile.height, abs=2)


def test_caption_cues_fit_the_frame_and_follow_the_words() -> None:
    from PIL import ImageFont

    profile = PROFILES["vertical_720x1280"]
    script = (
        "Our new sparkling lemonade is made with real lemons. "
        "It has no added sugar, and it tastes like summer in a can. Try it today!"
    )
    speech = synthesize(script=script, voice=resolve_voice(language="es", voice=None))
    font = find_font(script)
    assert font is not None and "DejaVu" in font.name
    cues = build_cues(speech=speech, profile=profile, font_path=font)
    assert " ".join(c.text.replace("\n", " ") for c in cues) == script
    measure = ImageFont.truetype(str(font), profile.caption_font_px)
    for cue in cues:
        lines = cue.text.split("\n")
        assert 1 <= len(lines) <= 2
        assert all(
            measure.getlength(line) <= profile.caption_max_width * profile.width for line in lines
        )
        assert cue.end_s > cue.start_s
    assert [c.start_s for c in cues] == sorted(c.start_s for c in cues)
    # a cue never spans two sentences
    assert not any(". " in c.text.replace("\n", " ").rstrip(".") for c in cues)


def test_cjk_font_coverage_is_checked_glyph_by_glyph() -> None:
    latin = find_font("AI-generated")
    assert latin is not None
    chinese = find_font("人工智能生成")
    if chinese is not None:
        assert chinese != latin  # DejaVu has no Han glyphs: a CJK font was picked
    layer, warning = badge_layer(text="人工智能生成", profile=PROFILES["square_1080"])
    assert (layer is None) == (chinese is None) and (warning is None) == (chinese is not None)


def test_badge_layer_is_an_opaque_label_in_a_corner() -> None:
    profile = PROFILES["vertical_720x1280"]
    layer, warning = badge_layer(text="AI-generated", profile=profile)
    assert warning is None and layer is not None
    x0, y0, x1, y1 = layer.box
    assert x1 < profile.width / 2 and y1 < profile.height / 4
    assert layer.alpha.max() == pytest.approx(1.0) and layer.alpha.min() == 0.0
