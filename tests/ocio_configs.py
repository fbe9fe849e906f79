"""Small OCIO configs whose scene_linear is linear Rec.709, written by tests that set $OCIO to them.

Like an older studio or "nuke-default"-style config: the reference space is linear Rec.709, and the
ACES spaces (when present) are defined from OCIO's own built-in transforms.
"""

from __future__ import annotations

from pathlib import Path

AP1_TO_709 = '!<BuiltinTransform> {style: "UTILITY - ACES-AP1_to_LINEAR-REC709_BFD"}'


def linear_709_config(path: Path, ap1_name: str | None = "CG linear AP1", *, fake_acescg: bool = False) -> Path:
    """Write a config with scene_linear = "Linear Rec.709 (sRGB)".

    Args:
        ap1_name: the name of its ACEScg-equivalent space, or None for a config without one.
        fake_acescg: also name a *linear Rec.709* space "ACEScg" (a mislabelled config).
    """
    spaces = ["""  - !<ColorSpace>
    name: Linear Rec.709 (sRGB)
    encoding: scene-linear""",
              f"""  - !<ColorSpace>
    name: ACES2065-1
    encoding: scene-linear
    to_scene_reference: !<GroupTransform>
      children:
        - !<BuiltinTransform> {{style: "ACEScg_to_ACES2065-1", direction: inverse}}
        - {AP1_TO_709}""",
              """  - !<ColorSpace>
    name: sRGB - Texture
    encoding: sdr-video
    to_scene_reference: !<ExponentWithLinearTransform> {gamma: 2.4, offset: 0.055, direction: inverse}""",
              """  - !<ColorSpace>
    name: Raw
    isdata: true"""]
    if ap1_name:
        spaces.insert(1, f"""  - !<ColorSpace>
    name: {ap1_name}
    encoding: scene-linear
    to_scene_reference: {AP1_TO_709}""")
    if fake_acescg:
        spaces.insert(1, """  - !<ColorSpace>
    name: ACEScg
    encoding: scene-linear""")
    text = """ocio_profile_version: 2.1

roles:
  default: Linear Rec.709 (sRGB)
  scene_linear: Linear Rec.709 (sRGB)
  aces_interchange: ACES2065-1
  color_timing: sRGB - Texture
  compositing_log: sRGB - Texture
  color_picking: sRGB - Texture
  data: Raw
  texture_paint: sRGB - Texture
  matte_paint: sRGB - Texture

file_rules:
  - !<Rule> {name: Default, colorspace: default}

displays:
  sRGB:
    - !<View> {name: Raw, colorspace: Raw}

colorspaces:
""" + "\n".join(spaces) + "\n"
    path.write_text(text, encoding="utf-8")
    return path
