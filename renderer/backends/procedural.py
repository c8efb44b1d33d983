"""The default animator: procedural warps of the still portrait, driven by visemes.

Per render, a handful of displacement *bases* are computed from the face landmarks (jaw
opening, lip press, mouth width, two blink levels, head x/y/roll). A frame's backward warp
field is a linear combination of them, so a batch of frames is one matrix product plus one
``grid_sample`` over the head region only. The mouth cavity revealed when the jaw drops is
composited inside a small box around the mouth. On CUDA everything runs in float16.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..runtime import DeviceChoice, ensure_torch_threads
from .base import AnimationJob, AnimatorBackend, register_backend

# MediaPipe FaceMesh indices.
UPPER_INNER_LIP = [78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308]
LOWER_INNER_LIP = [78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308]
UPPER_OUTER_LIP = [61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291]
LOWER_OUTER_LIP = [61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291]
EYES = (  # (outer corner, inner corner, upper lid, lower lid)
    (33, 133, [246, 161, 160, 159, 158, 157, 173], [7, 163, 144, 145, 153, 154, 155]),
    (263, 362, [466, 388, 387, 386, 385, 384, 398], [249, 390, 373, 374, 380, 381, 382]),
)
FACE_OVAL = [
    10,
    338,
    297,
    332,
    284,
    251,
    389,
    356,
    454,
    323,
    361,
    288,
    397,
    365,
    379,
    378,
    400,
    377,
    152,
    148,
    176,
    149,
    150,
    136,
    172,
    58,
    132,
    93,
    234,
    127,
    162,
    21,
    54,
    103,
    67,
    109,
]

MAX_GAP = 0.14  # widest lip gap, in face heights
JAW_SHARE = 0.82  # how much of the opening the lower lip/jaw takes (the rest: upper lip)
WIDTH_SHIFT = 0.16  # corner displacement for mouth_width = ±1, in outer half-widths
CAVITY_DARK = np.array([38.0, 14.0, 17.0]) + 0.5  # +0.5: rounding happens by truncation
CAVITY_TONGUE = np.array([118.0, 52.0, 58.0]) + 0.5
TEETH = np.array([214.0, 205.0, 192.0]) + 0.5

# Basis order.
JAW, PRESS, WIDTH, BLINK_HALF, BLINK_FULL, HEAD_X, HEAD_Y, HEAD_ROLL = range(8)


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -30, 30)))


def _curve(points: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Interpolate v(u) through landmark points given as (u, v) rows."""
    order = np.argsort(points[:, 0])
    return np.interp(u, points[order, 0], points[order, 1])


@dataclass
class FaceGeometry:
    """Landmark-derived measures in head-region pixels."""

    face_height: float
    mouth_centre: np.ndarray
    ex: np.ndarray  # along the mouth, left to right in the image
    ey: np.ndarray  # down the face
    half_width: float  # outer mouth half-width
    gap_centre: float  # lip gap of the still portrait at the centre of the mouth
    max_gap: float


def _frame(points: np.ndarray, centre: np.ndarray, ex: np.ndarray, ey: np.ndarray) -> np.ndarray:
    rel = points - centre
    return np.stack([rel @ ex, rel @ ey], axis=-1)


class _Bases:
    """Displacement bases (backward: source = output + offset), in pixels, as numpy."""

    def __init__(self, *, landmarks: np.ndarray, height: int, width: int, face_height: float):
        p = landmarks.astype(np.float64)
        fh = max(face_height, 1.0)
        ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
        pix = np.stack([xs, ys], axis=-1)
        self.height, self.width = height, width
        self.fields = np.zeros((8, height, width, 2), dtype=np.float64)

        # --- mouth -------------------------------------------------------------------------
        centre = (p[13] + p[14]) / 2
        ex = p[308] - p[78]
        ex /= np.linalg.norm(ex) + 1e-9
        ey = np.array([-ex[1], ex[0]])
        if (p[152] - centre) @ ey < 0:
            ey = -ey
        uv = _frame(pix, centre, ex, ey)
        u, v = uv[..., 0], uv[..., 1]
        up_in = _frame(p[UPPER_INNER_LIP], centre, ex, ey)
        lo_in = _frame(p[LOWER_INNER_LIP], centre, ex, ey)
        up_out = _frame(p[UPPER_OUTER_LIP], centre, ex, ey)
        lo_out = _frame(p[LOWER_OUTER_LIP], centre, ex, ey)
        half_width = max(abs(up_out[-1, 0] - up_out[0, 0]) / 2, 2.0)
        mid_u = (up_out[-1, 0] + up_out[0, 0]) / 2
        v_up, v_lo = _curve(up_in, u), _curve(lo_in, u)
        v_mid = (v_up + v_lo) / 2
        gap = np.maximum(v_lo - v_up, 0.0)
        v_top, v_bot = _curve(up_out, u), _curve(lo_out, u)
        v_chin = (p[152] - centre) @ ey
        v_nose = (p[2] - centre) @ ey
        self.geometry = FaceGeometry(
            face_height=fh,
            mouth_centre=centre,
            ex=ex,
            ey=ey,
            half_width=half_width,
            gap_centre=float(max((p[14] - p[13]) @ ey, 0.0)),
            max_gap=MAX_GAP * fh,
        )
        uc = u - mid_u
        profile = np.clip(1 - (uc / half_width) ** 2, 0, 1)
        lower = _sigmoid((v - v_mid) / 0.6)  # which side of the lip line a pixel is on
        # Jaw: below the lip line the jaw translates down, widening from the mouth corners to
        # the jaw line and fading out on the neck; above it the upper lip lifts a little.
        jaw_reach = max(v_chin, 1.0)
        jaw_half = half_width + (0.42 * fh - half_width) * _smoothstep((v - v_mid) / jaw_reach)
        jaw_profile = np.clip(1 - (uc / jaw_half) ** 2, 0, 1) ** 0.7
        neck_fade = 1 - _smoothstep((v - v_chin) / (0.3 * fh))
        upper_fade = _smoothstep((v - v_nose) / max(-v_nose, 1.0))
        down = JAW_SHARE * jaw_profile * neck_fade
        lift = (1 - JAW_SHARE) * profile * upper_fade
        jaw_v = -(lower * down) + (1 - lower) * lift  # per pixel of gap
        self.fields[JAW] = jaw_v[..., None] * ey
        # Lip press: close the still portrait's own gap (teeth showing) for p/b/m.
        upper_lip = np.maximum(v_mid - v_top, 1.0)
        lower_lip = np.maximum(v_bot - v_mid, 1.0)
        press_up = 1 - _smoothstep((v_mid - v) / (1.3 * upper_lip))
        press_lo = 1 - _smoothstep((v - v_mid) / (1.3 * lower_lip))
        # Overshoot a little so no sliver of teeth survives bilinear sampling at the seam.
        reach = np.where(gap > 0.5, gap / 2 + 0.1 * gap + 1.0, gap / 2)
        below = (v >= v_mid).astype(np.float64)  # a hard seam: either lip, never the gap
        press_v = reach * (-(1 - below) * press_up + below * press_lo) * profile**0.5
        self.fields[PRESS] = press_v[..., None] * ey
        # Width: spread or round the lips horizontally around the mouth centre.
        lip_band = np.exp(-0.5 * ((v - v_mid) / (1.6 * (upper_lip + lower_lip) / 2)) ** 2)
        spread = (
            WIDTH_SHIFT
            * half_width
            * (uc / half_width)
            * np.exp(-0.5 * (uc / (1.25 * half_width)) ** 2)
        )
        self.fields[WIDTH] = (-(spread * lip_band))[..., None] * ex

        # --- eyes --------------------------------------------------------------------------
        for outer, inner, upper_ids, lower_ids in EYES:
            corner_a, corner_b = p[outer], p[inner]
            e_centre = (corner_a + corner_b) / 2
            e_x = corner_b - corner_a
            e_half = max(np.linalg.norm(e_x) / 2, 1.0)
            e_x /= 2 * e_half
            e_y = np.array([-e_x[1], e_x[0]])
            if e_y @ ey < 0:
                e_y = -e_y
            euv = _frame(pix, e_centre, e_x, e_y)
            eu, ev = euv[..., 0], euv[..., 1]
            lid_up = _curve(_frame(p[upper_ids + [outer, inner]], e_centre, e_x, e_y), eu)
            lid_lo = _curve(_frame(p[lower_ids + [outer, inner]], e_centre, e_x, e_y), eu)
            opening = np.maximum(lid_lo - lid_up, 0.0)
            h_max = max(float(opening.max()), 1.0)
            window = 1 - _smoothstep((np.abs(eu) - 0.95 * e_half) / (0.3 * e_half))
            top = lid_up - 1.1 * h_max  # the skin above the lid stretches down from here
            for basis, level in ((BLINK_HALF, 0.5), (BLINK_FULL, 0.92)):
                lid = lid_up + level * opening  # where the upper lid edge lands
                stretch = np.clip((ev - top) / np.maximum(lid - top, 1e-3), 0, 1)
                source = top + stretch * (lid_up - top)  # lid skin squeezed into [top, lid]
                offset = np.where((ev >= top) & (ev <= lid), source - ev, 0.0)
                self.fields[basis] += (offset * window)[..., None] * e_y

        # --- head --------------------------------------------------------------------------
        oval = p[FACE_OVAL]
        head_centre = oval.mean(axis=0) - 0.08 * fh * ey
        axes = np.array([0.62 * fh, 0.78 * fh])
        rel = pix - head_centre
        radial = np.sqrt((rel @ ex / axes[0]) ** 2 + (rel @ ey / axes[1]) ** 2)
        weight = 1 - _smoothstep((radial - 1.0) / 0.35)
        border = np.minimum.reduce([xs, ys, width - 1 - xs, height - 1 - ys])
        weight *= _smoothstep(border / max(6.0, 0.06 * min(height, width)))
        pivot = p[152] + 0.35 * fh * ey
        self.fields[HEAD_X] = -weight[..., None] * np.array([1.0, 0.0])
        self.fields[HEAD_Y] = -weight[..., None] * np.array([0.0, 1.0])
        arm = pix - pivot
        self.fields[HEAD_ROLL] = -weight[..., None] * np.stack([-arm[..., 1], arm[..., 0]], -1)

        # --- mouth box (for the cavity) ------------------------------------------------------
        reach_up = (1 - JAW_SHARE) * self.geometry.max_gap + 4
        reach_down = JAW_SHARE * self.geometry.max_gap + 4
        corners = [
            centre + a * ex + b * ey
            for a in (mid_u - 1.2 * half_width, mid_u + 1.2 * half_width)
            for b in (
                float(v_mid.min()) - reach_up - gap.max(),
                float(v_mid.max()) + reach_down + gap.max(),
            )
        ]
        corners = np.array(corners)
        margin = 0.03 * fh + 3
        x0 = int(max(0, np.floor(corners[:, 0].min() - margin)))
        x1 = int(min(width, np.ceil(corners[:, 0].max() + margin)))
        y0 = int(max(0, np.floor(corners[:, 1].min() - margin)))
        y1 = int(min(height, np.ceil(corners[:, 1].max() + margin)))
        self.mouth_box = (x0, y0, x1, y1)
        box = (slice(y0, y1), slice(x0, x1))
        self.mouth_u = uc[box]
        self.mouth_v = v[box]
        self.mouth_vmid = v_mid[box]
        self.mouth_gap = gap[box]
        self.mouth_half_width = half_width
        self.mid_u = mid_u


class ProceduralState:
    def __init__(self, *, job: AnimationJob, device: DeviceChoice) -> None:
        import torch

        ensure_torch_threads()
        head = job.head
        height, width = head.image.shape[:2]
        bases = _Bases(
            landmarks=head.landmarks, height=height, width=width, face_height=head.face_height
        )
        self.geometry = bases.geometry
        self.mouth_box = bases.mouth_box
        self.job = job
        self.device = device.torch_device
        self.dtype = device.torch_dtype
        dev, dt = self.device, self.dtype
        self.height, self.width = height, width
        # Pixel offsets -> grid_sample's normalised coordinates (align_corners=False).
        scale = np.array([2.0 / width, 2.0 / height])
        fields = (bases.fields * scale).astype(np.float32)
        # Head motion moves the whole region; the other bases are zero outside small boxes,
        # so each group is a small matrix product added into its own box of the grid.
        self.head_fields = torch.from_numpy(
            np.ascontiguousarray(fields[HEAD_X : HEAD_ROLL + 1].reshape(3, -1))
        ).to(dev, dt)
        self.local_groups = []
        for group in ((JAW, PRESS, WIDTH), (BLINK_HALF, BLINK_FULL)):
            support = np.abs(bases.fields[list(group)]).max(axis=(0, 3)) > 1e-3
            if not support.any():
                continue
            rows, cols = np.nonzero(support.any(axis=1))[0], np.nonzero(support.any(axis=0))[0]
            y0, y1, x0, x1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
            block = fields[list(group)][:, y0:y1, x0:x1].reshape(len(group), -1)
            self.local_groups.append(
                (
                    list(group),
                    (y0, y1, x0, x1),
                    torch.from_numpy(np.ascontiguousarray(block)).to(dev, dt),
                )
            )
        ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
        identity = np.stack([(2 * xs + 1) / width - 1, (2 * ys + 1) / height - 1], axis=-1)
        self.identity = torch.from_numpy(identity.reshape(-1).astype(np.float32)).to(dev, dt)
        image = torch.from_numpy(np.array(head.image, dtype=np.uint8)).to(dev)
        self.source = (image.permute(2, 0, 1).unsqueeze(0).to(dt) + 0.5).contiguous()
        # Mouth-box tensors for the cavity.
        x0, y0, x1, y1 = bases.mouth_box

        def t(a: np.ndarray) -> Any:
            return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)).to(dev, dt)

        self.box_u, self.box_v = t(bases.mouth_u), t(bases.mouth_v)
        self.box_vmid = t(bases.mouth_vmid)
        ex, ey = bases.geometry.ex, bases.geometry.ey
        # Head-motion and width offsets inside the box, projected on the mouth axes (pixels).
        head_fields = bases.fields[[HEAD_X, HEAD_Y, HEAD_ROLL]][:, y0:y1, x0:x1]
        self.box_head_u = t(head_fields @ ex)  # (3, bh, bw)
        self.box_head_v = t(head_fields @ ey)
        self.box_width_u = t(bases.fields[WIDTH][y0:y1, x0:x1] @ ex)
        self.half_width = float(bases.mouth_half_width)
        geometry = bases.geometry
        self.teeth = geometry.gap_centre < 0.02 * geometry.face_height  # portrait mouth closed
        self.cavity_dark = torch.tensor(CAVITY_DARK, dtype=dt, device=dev).view(1, 3, 1, 1)
        self.cavity_tongue = torch.tensor(CAVITY_TONGUE, dtype=dt, device=dev).view(1, 3, 1, 1)
        self.teeth_colour = torch.tensor(TEETH, dtype=dt, device=dev).view(1, 3, 1, 1)
        self.coefficients = self._coefficients()

    def _coefficients(self) -> np.ndarray:
        """(frames, 8) basis weights from the drive signals (pixels, radians)."""
        drive = self.job.drive
        g = self.geometry
        target_gap = drive.mouth_open * g.max_gap
        extra = np.maximum(target_gap - g.gap_centre, 0.0)
        if g.gap_centre > 0.5:
            press = np.clip(1 - target_gap / g.gap_centre, 0, 1)
        else:
            press = np.zeros_like(target_gap)
        press = np.maximum(press, drive.lip_close)
        blink = np.clip(drive.blink, 0, 1)
        half = np.where(blink <= 0.5, blink / 0.5, 2 - blink / 0.5)
        full = np.clip(blink / 0.5 - 1, 0, 1)
        c = np.zeros((drive.frames, 8), dtype=np.float32)
        c[:, JAW] = extra
        c[:, PRESS] = press
        c[:, WIDTH] = drive.mouth_width
        c[:, BLINK_HALF] = half
        c[:, BLINK_FULL] = full
        c[:, HEAD_X] = drive.head[:, 0] * g.face_height
        c[:, HEAD_Y] = drive.head[:, 1] * g.face_height
        c[:, HEAD_ROLL] = drive.head[:, 2]
        return c

    def render(self, start: int, stop: int) -> Any:
        import torch
        import torch.nn.functional as F

        n = stop - start
        coefficients = torch.from_numpy(self.coefficients[start:stop]).to(self.device, self.dtype)
        head = coefficients[:, HEAD_X : HEAD_ROLL + 1]
        grid = torch.addmm(self.identity.unsqueeze(0), head, self.head_fields)
        grid = grid.view(n, self.height, self.width, 2)
        for group, (y0, y1, x0, x1), block in self.local_groups:
            offsets = coefficients[:, group] @ block
            grid[:, y0:y1, x0:x1].add_(offsets.view(n, y1 - y0, x1 - x0, 2))
        source = self.source.expand(n, -1, -1, -1)
        out = F.grid_sample(
            source, grid, mode="bilinear", padding_mode="border", align_corners=False
        )
        self._cavity(out, coefficients)
        # The source carries +0.5 and bilinear weights sum to one, so truncating rounds.
        return out.to(torch.uint8)

    def _cavity(self, out: Any, coefficients: Any) -> None:
        """Composite the dark mouth interior where the jaw has opened past the still gap."""
        import torch

        active = torch.nonzero(coefficients[:, JAW] > 0.05).flatten()
        if active.numel() == 0:
            return
        c = coefficients.index_select(0, active)
        x0, y0, x1, y1 = self.mouth_box
        extra = c[:, JAW].view(-1, 1, 1)
        head = c[:, HEAD_X : HEAD_ROLL + 1]  # (n, 3)
        du = torch.einsum("nk,khw->nhw", head, self.box_head_u)
        dv = torch.einsum("nk,khw->nhw", head, self.box_head_v)
        u = self.box_u + du + c[:, WIDTH].view(-1, 1, 1) * self.box_width_u
        v = self.box_v + dv
        profile = torch.clamp(1 - (u / self.half_width) ** 2, min=0)
        top = self.box_vmid - (1 - JAW_SHARE) * extra * profile
        bottom = self.box_vmid + JAW_SHARE * extra * profile**0.7
        opening = (bottom - top).clamp(min=1e-3)
        alpha = torch.sigmoid((v - top) / 0.6) * torch.sigmoid((bottom - v) / 0.6)
        alpha = alpha * (opening / 1.5).clamp(max=1)  # no hairline where the lips still touch
        depth = ((v - top) / opening).clamp(0, 1)
        tongue = ((depth - 0.55) / 0.45).clamp(0, 1) * 0.55
        colour = self.cavity_dark + (self.cavity_tongue - self.cavity_dark) * tongue.unsqueeze(1)
        if self.teeth:
            band = (0.045 * self.geometry.face_height / opening).clamp(max=0.35)
            teeth = torch.sigmoid((band - depth) * 12).unsqueeze(1)
            colour = colour + (self.teeth_colour - colour) * teeth * 0.9
        alpha = alpha.unsqueeze(1)
        region = out[active, :, y0:y1, x0:x1]
        region = region + (colour - region) * alpha
        out[active, :, y0:y1, x0:x1] = region


@register_backend
class ProceduralBackend(AnimatorBackend):
    """Landmark-driven warps on the CPU or GPU; no weights, nothing to download."""

    name = "procedural"

    def prepare(self, *, job: AnimationJob, device: DeviceChoice) -> ProceduralState:
        return ProceduralState(job=job, device=device)

    def frames(self, *, state: ProceduralState, start: int, stop: int) -> list[np.ndarray]:
        import cv2
        import torch

        with torch.inference_mode():
            planar = state.render(start, stop).cpu().numpy()  # (n, 3, h, w) uint8
        # cv2 interleaves planes several times faster than a torch permute copy.
        return [cv2.merge([frame[0], frame[1], frame[2]]) for frame in planar]
