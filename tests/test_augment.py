"""Per-sample batch augmentation: each operation's geometry and draws, on real tensors."""

from __future__ import annotations

import math

import pytest
import torch

from tuner.augment import NAMES, OFF_VALUES, Augmentation, check_image_samples, takes_augmentation
from tuner.augment.batch import BatchAugment, augment
from tuner.errors import TuneError
from tuner.sources import load_digits

STRONG = {"flip": 0.5, "crop": 0.35, "translate": 0.25, "jitter": 0.4, "cutout": 0.5}
ALL = Augmentation(**STRONG)


def assert_close(actual: torch.Tensor, expected: torch.Tensor, atol: float = 1e-5) -> None:
    """Elementwise within ``atol`` (torch.testing.assert_close costs a second of imports)."""
    assert actual.shape == expected.shape
    worst = float((actual - expected).abs().max()) if actual.numel() else 0.0
    assert worst <= atol, f"off by {worst:g}"


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.fixture(scope="module")
def digits() -> torch.Tensor:
    train, _ = load_digits()
    x = train.x[:64]
    return (x - x.mean()) / x.std()


def ramps(n: int, size: int) -> torch.Tensor:
    """Channel 0 holds each pixel's column index, channel 1 its row index."""
    cols = torch.arange(size, dtype=torch.float32).expand(size, size)
    return torch.stack([cols, cols.T]).expand(n, 2, size, size).clone()


# --- off means untouched ---------------------------------------------------------------

def test_all_off_returns_the_batch_itself(digits):
    assert Augmentation().is_identity()
    assert augment(digits, Augmentation(), gen()) is digits


@pytest.mark.parametrize("name", NAMES)
def test_each_operation_changes_the_batch_only_when_set(name, digits):
    on = Augmentation(**{name: STRONG[name]})
    assert not on.is_identity() and on.active() == (name,)
    assert not torch.equal(augment(digits, on, gen()), digits)
    # Setting the others leaves this one's off value untouched: with only the others
    # on, the result is the same as with this one explicitly at its off value.
    others = {k: v for k, v in STRONG.items() if k != name}
    assert torch.equal(augment(digits, Augmentation(**others), gen(3)),
                       augment(digits, Augmentation(**others, **{name: OFF_VALUES[name]}), gen(3)))


def test_shape_dtype_and_device_are_kept(digits):
    for dtype in (torch.float32, torch.float64, torch.float16, torch.bfloat16):
        x = digits.to(dtype)
        y = augment(x, ALL, gen())
        assert y.shape == x.shape and y.dtype == dtype and y.device == x.device
        assert torch.isfinite(y.float()).all()
    rgb = torch.rand(5, 3, 12, 20, generator=gen())  # not square
    assert augment(rgb, ALL, gen()).shape == rgb.shape


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_on_the_gpu_the_draws_are_the_cpu_ones(digits):
    on_gpu = augment(digits.cuda(), ALL, gen(5))
    assert on_gpu.device.type == "cuda"
    assert_close(on_gpu.cpu(), augment(digits, ALL, gen(5)), atol=1e-4)


# --- draws ----------------------------------------------------------------------------

def test_the_same_seed_repeats_and_another_seed_differs(digits):
    assert torch.equal(augment(digits, ALL, gen(7)), augment(digits, ALL, gen(7)))
    assert not torch.equal(augment(digits, ALL, gen(7)), augment(digits, ALL, gen(8)))
    a, b = BatchAugment(ALL, 11), BatchAugment(ALL, torch.Generator().manual_seed(11))  # a seed is its generator
    assert all(torch.equal(a(digits), b(digits)) for _ in range(3))
    first, second = a(digits), a(digits)  # the owned generator moves on between batches
    assert not torch.equal(first, second)


def test_a_transform_gives_the_kth_sample_the_kth_draw_whatever_the_batches():
    x = torch.rand(1500, 3, 6, 6, generator=gen())
    whole = BatchAugment(ALL, 4)(x)  # more than the 1024 samples drawn at a time
    assert whole.shape == x.shape
    in_batches = BatchAugment(ALL, 4)
    first = torch.cat([in_batches(x[i:i + 64]) for i in range(0, 1024, 64)])
    assert torch.equal(first, BatchAugment(ALL, 4)(x[:1024]))
    # The stream goes on past its first 1024 draws, and differs from them.
    assert not torch.equal(in_batches(x[:64]), first[:64])


def test_every_sample_draws_its_own(digits):
    """A batch of copies of one image comes back as many different images."""
    same = digits[:1].expand(64, -1, -1, -1).contiguous()
    for name, value in STRONG.items():
        out = augment(same, Augmentation(**{name: value}), gen())
        distinct = torch.unique(out.reshape(64, -1), dim=0).shape[0]
        if name == "flip":
            assert distinct == 2  # flipped or not, both in one batch
            flipped = (out == same.flip(-1)).flatten(1).all(1)
            assert 15 < int(flipped.sum()) < 49  # about half of 64
        else:  # a shift or a 4x4 square on 8x8 has 25 possible outcomes, the rest many
            assert distinct > (15 if name in ("translate", "cutout") else 48), name


def test_turning_one_operation_on_leaves_the_other_draws_alone():
    """The same seed gives the same flips whether cutout is on or not: the
    difference is exactly the cutout squares."""
    x = torch.rand(32, 1, 8, 8, generator=gen()) + 1  # no zero anywhere
    flip_only = augment(x, Augmentation(flip=0.5), gen(2))
    both = augment(x, Augmentation(flip=0.5, cutout=0.25), gen(2))
    differs = both != flip_only
    assert torch.equal(both[differs], torch.zeros(int(differs.sum())))
    assert int(differs.flatten(1).sum(1).min()) == 4  # each sample lost a 2x2 square


# --- geometry ----------------------------------------------------------------------------

def test_flip_one_mirrors_every_sample_exactly(digits):
    assert torch.equal(augment(digits, Augmentation(flip=1.0), gen()), digits.flip(-1))


def test_translate_is_a_whole_pixel_shift_with_zero_fill():
    n, size = 400, 8
    x = torch.rand(n, 3, size, size, generator=gen()) + 1
    out = augment(x, Augmentation(translate=0.25), gen())  # up to round(0.25 * 8) = 2 pixels
    seen = set()
    for i in range(n):
        matches = []
        for dy in range(-2, 3):
            for dx in range(-2, 3):
                padded = torch.nn.functional.pad(x[i], (2, 2, 2, 2))
                shifted = padded[:, 2 + dy:2 + dy + size, 2 + dx:2 + dx + size]
                if torch.equal(out[i], shifted):
                    matches.append((dx, dy))
        assert len(matches) == 1, f"sample {i} is no shift of its input"
        seen.add(matches[0])
    assert len(seen) == 25  # every shift in [-2, 2] x [-2, 2] occurs


def test_random_resized_crop_windows_have_the_asked_area_and_aspect():
    """On ramps (pixel value = its column / row index) a crop window resized to
    the full side shows up as the slope of the output: the window's width and
    height as fractions of the side."""
    n, size, crop = 256, 32, 0.35
    out = augment(ramps(n, size), Augmentation(crop=crop), gen())
    mid = size // 2
    fw = out[:, 0, mid, mid + 1] - out[:, 0, mid, mid]
    fh = out[:, 1, mid + 1, mid] - out[:, 1, mid, mid]
    area, aspect = fw * fh, fw / fh
    assert area.min() >= crop - 1e-4 and area.max() <= 1 + 1e-4
    assert aspect.min() >= 3 / 4 - 1e-4 and aspect.max() <= 4 / 3 + 1e-4
    assert area.min() < crop + 0.05 and area.max() > 0.95  # the whole range is drawn
    # Each output row is one straight line: a crop, not a warp.
    row = out[:, 0, mid, 4:28]
    steps = row[:, 1:] - row[:, :-1]
    assert_close(steps, fw[:, None].expand_as(steps), atol=1e-4)
    # Each window lies inside the image.
    assert out.min() >= -1e-4 and out.max() <= size - 1 + 1e-4


def test_crop_flip_and_shift_compose_in_one_resampling():
    n, size = 128, 32
    out = augment(ramps(n, size), Augmentation(crop=0.5, flip=1.0, translate=0.125), gen())
    mid = size // 2
    assert (out[:, 0, mid, mid + 1] - out[:, 0, mid, mid] < 0).all()  # every sample mirrored
    # The shift uncovers whole rows/columns of exact zeros in most samples.
    zero_cols = (out[:, 1] == 0).all(dim=1).sum(dim=1)
    zero_rows = (out[:, 0] == 0).all(dim=2).sum(dim=1)
    assert ((zero_cols > 0) | (zero_rows > 0)).float().mean() > 0.5
    assert zero_cols.max() <= 4 and zero_rows.max() <= 4


def test_cutout_zeroes_exactly_one_square_of_the_asked_side():
    n, size = 300, 10
    x = torch.rand(n, 3, size, size, generator=gen()) + 1
    out = augment(x, Augmentation(cutout=0.3), gen())  # round(0.3 * 10) = 3 pixels
    zero = out == 0
    assert torch.equal(zero[:, 0], zero[:, 1]) and torch.equal(zero[:, 0], zero[:, 2])
    tops = set()
    for i in range(n):
        rows = zero[i, 0].any(dim=1).nonzero().flatten()
        cols = zero[i, 0].any(dim=0).nonzero().flatten()
        assert len(rows) == 3 and len(cols) == 3 and int(zero[i, 0].sum()) == 9
        assert int(rows[-1] - rows[0]) == 2 and int(cols[-1] - cols[0]) == 2  # contiguous
        tops.add(int(rows[0]))
    assert tops == set(range(size - 3 + 1))  # every place where the square fits whole
    assert torch.equal(out[~zero], x[~zero])  # the rest untouched


# --- colour ----------------------------------------------------------------------------

def test_jitter_draws_brightness_per_sample_within_its_range():
    """A uniform grey image is its own grey mean, so contrast and saturation
    leave it alone and what remains is brightness: raw * b, b in [1 - s, 1 + s]."""
    x = torch.full((500, 3, 4, 4), 0.5)
    out = augment(x, Augmentation(jitter=0.4), gen())
    b = out[:, 0, 0, 0] / 0.5
    assert_close(out, (b.view(-1, 1, 1, 1) * 0.5).expand_as(out))
    assert b.min() >= 0.6 - 1e-6 and b.max() <= 1.4 + 1e-6
    assert b.min() < 0.65 and b.max() > 1.35


def test_jitter_on_normalised_data_acts_on_the_raw_colours():
    raw = torch.rand(16, 3, 6, 6, generator=gen())
    mean, std = torch.tensor([0.4, 0.5, 0.6]), torch.tensor([0.2, 0.25, 0.3])
    z = (raw - mean.view(3, 1, 1)) / std.view(3, 1, 1)
    aug = Augmentation(jitter=0.4)
    via_z = augment(z, aug, gen(1), mean=mean, std=std)
    via_raw = (augment(raw, aug, gen(1)) - mean.view(3, 1, 1)) / std.view(3, 1, 1)
    assert_close(via_z, via_raw, atol=1e-5)
    # Without the statistics the same draws act on z directly: something else.
    assert not torch.allclose(augment(z, aug, gen(1)), via_z, atol=1e-3)


def test_saturation_only_for_three_channels():
    """Contrast keeps the image's grey mean; on 3 channels saturation then
    changes how far each pixel's colour is from its grey."""
    x = torch.rand(64, 3, 5, 5, generator=gen())
    out = augment(x, Augmentation(jitter=0.5), gen())
    grey = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    spread_in = (x - (x * grey).sum(1, keepdim=True)).abs().mean((1, 2, 3))
    spread_out = (out - (out * grey).sum(1, keepdim=True)).abs().mean((1, 2, 3))
    change = spread_out / spread_in
    assert change.std() > 0.1  # a per-sample factor, not one for the batch
    one = torch.rand(64, 1, 5, 5, generator=gen())
    assert augment(one, Augmentation(jitter=0.5), gen()).shape == one.shape


# --- bad input ----------------------------------------------------------------------------

@pytest.mark.parametrize("name, value, shown", [
    ("flip", 1.5, "[0, 1]"), ("crop", 0.0, "(0, 1]"), ("crop", 1.2, "(0, 1]"),
    ("translate", 0.6, "[0, 0.5]"), ("jitter", -0.1, "[0, 1]"), ("cutout", math.nan, "[0, 1]"),
])
def test_out_of_range_values_are_named_with_their_range(name, value, shown):
    with pytest.raises(TuneError) as err:
        Augmentation(**{name: value})
    assert f"{name}={value}" in err.value.message and shown in err.value.message
    assert err.value.hint == f"{name}={OFF_VALUES[name]:g} turns it off"


def test_only_image_samples_take_augmentation():
    assert takes_augmentation((1, 8, 8)) and takes_augmentation((3, 32, 32))
    assert not takes_augmentation((64,)) and not takes_augmentation((2, 3, 4, 5))
    check_image_samples((64,), Augmentation())  # off: any data is fine
    check_image_samples((3, 32, 32), ALL)
    with pytest.raises(TuneError) as err:
        check_image_samples((64,), Augmentation(flip=0.5))
    assert err.value.message == ("augmentation needs image samples shaped "
                                 "(channels, height, width); these are (64,)")
    assert "flip=0.5" in err.value.hint


def test_a_batch_that_is_not_images_is_one_clear_error():
    with pytest.raises(TuneError, match="these are"):
        check_image_samples((10, 64), ALL)
    with pytest.raises(TuneError, match=r"shaped \(N, channels, height, width\)"):
        augment(torch.zeros(4, 64), ALL, gen())
    with pytest.raises(TuneError, match="floating-point"):
        augment(torch.zeros(4, 1, 8, 8, dtype=torch.uint8), ALL, gen())


def test_from_values_reads_the_five_names_and_ignores_the_rest():
    aug = Augmentation.from_values({"flip": 0.5, "cutout": "0.25", "lr": 0.1})
    assert aug == Augmentation(flip=0.5, cutout=0.25)
    assert aug.describe() == "flip=0.5 cutout=0.25"
    assert Augmentation().describe() == "none"
    with pytest.raises(TuneError, match=r"--hp crop=big: crop must be a number in \(0, 1\]"):
        Augmentation.from_values({"crop": "big"})
    assert Augmentation(**STRONG).to_dict() == STRONG
