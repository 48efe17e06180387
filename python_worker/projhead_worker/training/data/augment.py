"""SimCLR-style augmentation, batched on the training device, with per-sample random parameters.

Pipeline (each step with its own per-sample coin): random resized crop + horizontal flip ->
colour jitter (brightness, contrast, saturation, hue; fixed order) -> grayscale -> Gaussian blur
-> normalise. uint8 [B,C,H,W] in (C = 1 or 3), float [B,3,S,S] out.

Crop + flip is bilinear sampling of a per-sample window: affine_grid + grid_sample when the
output is at least as large as the input (no window is ever shrunk, so nothing can alias), and
otherwise per-sample separable resampling matrices (out = Ay @ x @ Ax^T, two batched matmuls)
whose triangle filter widens with the downscale factor (antialiasing). Blur is two depthwise
convolutions with per-sample kernels. Everything is plain batched tensor maths with no
scatter/atomics: deterministic, and the same on CPU and CUDA (up to float rounding; TF32
matmuls, if enabled, stay far below one uint8 grey level).

Randomness: every call draws one [B, 31] uniform tensor from the generator, whatever the
config, so the stream position never depends on which augmentations are enabled. The
generator may live on the CPU or on the images' device: a CPU generator gives bit-identical
parameters on CPU and CUDA for the same seed (one tiny host-to-device copy per call); a CUDA
generator avoids the copy (its stream differs from the CPU one).

Normalisation: (x - 0.5) / 0.5 per channel, i.e. [0, 1] -> [-1, 1]; dataset-agnostic and the
same for grayscale and colour data.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ...common.config import AugmentConfig

MEAN = 0.5
STD = 0.5
_LUMA = (0.299, 0.587, 0.114)

# Column layout of the per-call uniform draw.
_FLIP, _JIT, _BRI, _CON, _SAT, _HUE, _GRAY, _BLUR, _SIGMA, _PX, _PY = range(11)
_TRIES = 10
_AREA = 11
_LOGR = _AREA + _TRIES
_NCOLS = _LOGR + _TRIES


def normalize(x: torch.Tensor) -> torch.Tensor:
    """Float images in [0, 1] -> normalised model input."""
    return (x - MEAN) / STD


def eval_transform(x: torch.Tensor, out_size: int) -> torch.Tensor:
    """uint8 [B,C,H,W] -> float [B,3,S,S] normalised; resized (antialiased, the same resampler
    as the crop, over the whole image) only when the size differs."""
    b, _, h, w = x.shape
    if (h, w) == (out_size, out_size):
        x = x.float() / 255.0
    else:
        dev = x.device
        zero = torch.zeros(1, device=dev)
        ay = _resample_matrix(zero, torch.full((1,), float(h), device=dev), h, out_size) * (1.0 / 255.0)
        ax = _resample_matrix(zero, torch.full((1,), float(w), device=dev), w, out_size)
        x = _apply_separable(x.float(), ay.expand(b, -1, -1), ax.expand(b, -1, -1)).clamp(0.0, 1.0)
    return normalize(_to_rgb(x)).contiguous()


class Augment:
    """Callable: (uint8 [B,C,H,W] on the training device, torch.Generator) -> float [B,3,S,S].

    blur_p < 0 means 0.5 when out_size >= 96 else 0; minimal=True keeps only crop and flip.
    `ratio` is the aspect-ratio range of the crop (fixed at 3/4..4/3 by the spec; tests vary it).

    Colour jitter follows torchvision's ColorJitter in a fixed order with per-sample factors:
    brightness and contrast (each clamped to [0, 1]); then saturation, hue and grayscale as one
    per-sample 3x3 colour matrix, clamped once. Hue is a rotation of the chroma plane in YIQ
    (luma-preserving) by up to +-0.1*s of a turn, the linear stand-in for an HSV hue shift.
    Samples whose coin says "no" get identity factors, which are exact in float, so no
    per-sample selection pass is needed.
    """

    def __init__(self, cfg: AugmentConfig, out_size: int, *, ratio: tuple[float, float] = (3 / 4, 4 / 3)):
        self.cfg = cfg
        self.out_size = int(out_size)
        self.scale = (float(cfg.crop_min_scale), 1.0)
        self.log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
        self.flip_p = float(cfg.flip_p)
        minimal = bool(cfg.minimal)
        s = float(cfg.jitter_strength)
        self.jitter_p = 0.0 if minimal or s == 0 else float(cfg.jitter_p)
        self.strength = (0.4 * s, 0.4 * s, 0.4 * s, min(0.1 * s, 0.5))  # brightness, contrast, saturation, hue
        self.grayscale_p = 0.0 if minimal else float(cfg.grayscale_p)
        blur_p = float(cfg.blur_p)
        if blur_p < 0:
            blur_p = 0.5 if self.out_size >= 96 else 0.0
        self.blur_p = 0.0 if minimal else blur_p
        # Kernel about 10% of the image side, as in SimCLR; at least 3 taps.
        self.blur_radius = max(1, int(0.1 * self.out_size) // 2)
        self.sigma = (0.1, 2.0)

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] not in (1, 3):
            raise ValueError(f"expected uint8 images [B, 1|3, H, W], got {tuple(x.shape)}")
        b, _, h, w = x.shape
        dev = x.device
        u = torch.rand(b, _NCOLS, generator=generator, device=generator.device).to(dev)

        # -- random resized crop + flip -----------------------------------------------------
        cw, ch = self._crop_size(u, h, w)
        flip = u[:, _FLIP] < self.flip_p if self.flip_p > 0 else None
        x = _crop_resize(x.float(), u[:, _PX] * (w - cw), u[:, _PY] * (h - ch), cw, ch, flip, self.out_size)
        x = x.mul_(1.0 / 255.0).clamp_(0.0, 1.0)  # interpolation can overshoot 1 by an ulp
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)

        # -- colour --------------------------------------------------------------------------
        jit = u[:, _JIT] < self.jitter_p if self.jitter_p > 0 else None
        if jit is not None:
            x = self._brightness_contrast(x, u, jit)
        if jit is not None or self.grayscale_p > 0:
            x = _apply_colour(x, self._colour_matrix(u, jit))
        if self.blur_p > 0:
            x = _blur(x, u[:, _SIGMA], u[:, _BLUR] < self.blur_p, self.sigma, self.blur_radius)
        return normalize(x)

    def _crop_size(self, u: torch.Tensor, h: int, w: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Crop width and height in pixels: area fraction and log aspect ratio drawn uniformly,
        the first of ten tries that fits, else the whole image (ratio clamped), as torchvision."""
        lo, hi = self.scale
        area = (lo + (hi - lo) * u[:, _AREA:_LOGR]) * (h * w)
        ratio = torch.exp(self.log_ratio[0] + (self.log_ratio[1] - self.log_ratio[0]) * u[:, _LOGR:])
        cw = torch.sqrt(area * ratio)
        ch = torch.sqrt(area / ratio)
        ok = (cw <= w) & (ch <= h)
        first = ok.int().argmax(1, keepdim=True)  # index of the first fitting try (0 if none)
        cw, ch, any_ok = cw.gather(1, first)[:, 0], ch.gather(1, first)[:, 0], ok.any(1)
        # Fallback: the whole image, narrowed to the allowed aspect range.
        rmin, rmax = math.exp(self.log_ratio[0]), math.exp(self.log_ratio[1])
        fw, fh = float(w), float(h)
        if w / h < rmin:
            fh = w / rmin
        elif w / h > rmax:
            fw = h * rmax
        cw = torch.where(any_ok, cw, torch.full_like(cw, fw))
        ch = torch.where(any_ok, ch, torch.full_like(ch, fh))
        return cw, ch

    def _factor(self, u: torch.Tensor, col: int, strength: float, on: torch.Tensor) -> torch.Tensor:
        lo = max(0.0, 1.0 - strength)
        f = lo + (1.0 + strength - lo) * u[:, col]
        return torch.where(on, f, torch.ones_like(f))

    def _brightness_contrast(self, x: torch.Tensor, u: torch.Tensor, on: torch.Tensor) -> torch.Tensor:
        sb, sc = self.strength[0], self.strength[1]
        x = (x * self._factor(u, _BRI, sb, on)[:, None, None, None]).clamp_(0.0, 1.0)
        c = self._factor(u, _CON, sc, on)[:, None, None, None]
        luma = torch.tensor(_LUMA, device=x.device)
        mean = (x.mean(dim=(2, 3)) @ luma)[:, None, None, None]   # mean of the grayscale image
        return torch.addcmul((1 - c) * mean, c, x).clamp_(0.0, 1.0)

    def _colour_matrix(self, u: torch.Tensor, jit: torch.Tensor | None) -> torch.Tensor:
        """[B, 3, 3]: grayscale @ hue @ saturation, each the identity where its coin is off."""
        b, dev = u.shape[0], u.device
        eye = torch.eye(3, device=dev).expand(b, 3, 3)
        gray = torch.tensor(_LUMA, device=dev).expand(3, 3)     # every output channel = luma
        m = eye
        if jit is not None:
            s = self._factor(u, _SAT, self.strength[2], jit)[:, None, None]
            m = s * eye + (1 - s) * gray
            if self.strength[3] > 0:
                angle = (u[:, _HUE] * 2 - 1) * (self.strength[3] * 2 * math.pi)
                m = _hue_matrix(angle) @ m
            m = torch.where(jit[:, None, None], m, eye)
        if self.grayscale_p > 0:
            g = (u[:, _GRAY] < self.grayscale_p)[:, None, None]
            m = torch.where(g, gray.expand(b, 3, 3) @ m, m)
        return m


# -- helpers -------------------------------------------------------------------------------------

def _to_rgb(x: torch.Tensor) -> torch.Tensor:
    return x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x


# RGB -> YIQ; Y is the luma used for grayscale, I and Q span chroma.
_YIQ = ((0.299, 0.587, 0.114), (0.596, -0.274, -0.322), (0.211, -0.523, 0.312))


def _hue_matrix(angle: torch.Tensor) -> torch.Tensor:
    """[B, 3, 3] RGB -> RGB: rotate the (I, Q) chroma plane by `angle` radians."""
    t = torch.tensor(_YIQ, dtype=torch.float64)
    t, t_inv = t.to(angle.device, torch.float32), torch.linalg.inv(t).to(angle.device, torch.float32)
    cos, sin = torch.cos(angle), torch.sin(angle)
    one, zero = torch.ones_like(angle), torch.zeros_like(angle)
    rot = torch.stack([one, zero, zero, zero, cos, -sin, zero, sin, cos], 1).view(-1, 3, 3)
    return t_inv @ rot @ t


def _apply_colour(x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """Per-sample colour matrix [B,3,3] on every pixel, clamped to [0, 1]. Multiply-adds rather
    than bmm: exact for identity rows (a TF32 or blocked BLAS matmul is not)."""
    m = m[:, :, :, None, None]
    r, g, b = x[:, 0:1], x[:, 1:2], x[:, 2:3]
    out = m[:, :, 0] * r
    out.addcmul_(m[:, :, 1], g).addcmul_(m[:, :, 2], b)
    return out.clamp_(0.0, 1.0)


def _crop_resize(x: torch.Tensor, x0: torch.Tensor, y0: torch.Tensor, cw: torch.Tensor, ch: torch.Tensor,
                 flip: torch.Tensor | None, size: int) -> torch.Tensor:
    """Samples the per-sample window [x0, x0+cw) x [y0, y0+ch) (pixels) onto size x size,
    mirrored where `flip`. When the output is at least as large as the input no window is ever
    shrunk, and plain bilinear grid_sample (border clamp) is exact and cheapest; otherwise the
    separable antialiased matrices are used. Both sample the same source coordinates."""
    b, c, h, w = x.shape
    if size >= h and size >= w:
        sx = cw / w
        if flip is not None:
            sx = torch.where(flip, -sx, sx)
        zero = torch.zeros_like(sx)
        theta = torch.stack([sx, zero, (2 * x0 + cw) / w - 1, zero, ch / h, (2 * y0 + ch) / h - 1], 1).view(b, 2, 3)
        grid = F.affine_grid(theta, [b, c, size, size], align_corners=False)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    ax = _resample_matrix(x0, cw, w, size, flip)
    ay = _resample_matrix(y0, ch, h, size)
    return _apply_separable(x, ay, ax).contiguous()


def _resample_matrix(start: torch.Tensor, length: torch.Tensor, n_in: int, n_out: int,
                     flip: torch.Tensor | None = None) -> torch.Tensor:
    """[B, n_out, n_in] weights sampling the window [start, start+length) (pixels, per sample)
    onto n_out pixels, mirrored where `flip`: bilinear, widened to a triangle of the downscale
    factor when length > n_out (antialiasing); taps outside the image are dropped and the rest
    renormalised (the same as clamping to the border for plain bilinear)."""
    dev = start.device
    j = torch.arange(n_out, device=dev, dtype=torch.float32) + 0.5
    if flip is not None:
        j = torch.where(flip[:, None], n_out - j, j)
    step = (length / n_out)[:, None]
    src = start[:, None] + j * step - 0.5                      # [B, n_out] source coordinate
    support = step.clamp(min=1.0)[:, :, None]
    i = torch.arange(n_in, device=dev, dtype=torch.float32)
    wgt = (1.0 - (i - src[:, :, None]).abs() / support).clamp_(min=0.0)
    return wgt / wgt.sum(-1, keepdim=True).clamp_(min=1e-12)


def _apply_separable(x: torch.Tensor, ay: torch.Tensor, ax: torch.Tensor) -> torch.Tensor:
    """x [B,C,H,W], ay [B,S,H], ax [B,T,W] -> [B,C,S,T] = ay @ x @ ax^T per sample and channel.
    Two plain bmm with the channels folded into the rows (faster than broadcast matmul); the
    result is a transposed view, made contiguous once at the end of the pipeline."""
    b, c, h, w = x.shape
    t = torch.bmm(x.reshape(b, c * h, w), ax.transpose(1, 2))            # [B, C*H, T]
    t = t.view(b, c, h, -1).transpose(2, 3).reshape(b, -1, h)            # [B, C*T, H]
    t = torch.bmm(t, ay.transpose(1, 2))                                 # [B, C*T, S]
    return t.view(b, c, -1, ay.shape[1]).transpose(2, 3)


def _blur(x: torch.Tensor, u_sigma: torch.Tensor, apply: torch.Tensor, sigma: tuple[float, float], radius: int) -> torch.Tensor:
    """Separable Gaussian blur, per-sample sigma, reflected borders, as two depthwise
    convolutions (one group per sample and channel); a delta kernel where `apply` is False,
    which leaves those samples exactly unchanged."""
    b, c, h, w = x.shape
    s = (sigma[0] + (sigma[1] - sigma[0]) * u_sigma)[:, None]
    d = torch.arange(-radius, radius + 1, device=x.device, dtype=torch.float32)
    k = torch.exp(-(d * d) / (2 * s * s))
    k = k / k.sum(1, keepdim=True)
    k = torch.where(apply[:, None], k, (d == 0).float())                # [B, 2r+1]
    k = k.repeat_interleave(c, 0)                                       # one kernel per (sample, channel)
    y = F.pad(x.reshape(1, b * c, h, w), (radius, radius, radius, radius), mode="reflect")
    y = F.conv2d(y, k[:, None, None, :], groups=b * c)
    y = F.conv2d(y, k[:, None, :, None], groups=b * c)
    return y.view(b, c, h, w)
