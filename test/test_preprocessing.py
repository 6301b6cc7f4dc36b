"""Preprocessing must equal the training pipeline: PIL resize, ToTensor scaling, ImageNet normalisation."""
import numpy as np
import pytest
from PIL import Image

from gnm_nav.gnm.context_buffer import ContextBuffer
from gnm_nav.gnm.preprocessing import center_crop_4_3, preprocess_frame, to_model_input

MEAN = np.array([0.485, 0.456, 0.406])
STD = np.array([0.229, 0.224, 0.225])


def _reference(rgb: np.ndarray) -> np.ndarray:
    """The training transform written independently: PIL bicubic resize -> [0,1] -> normalise, CHW."""
    img = Image.fromarray(rgb).resize((85, 64), Image.Resampling.BICUBIC)
    x = np.asarray(img, dtype=np.float64) / 255.0
    return ((x - MEAN) / STD).transpose(2, 0, 1)


def test_to_model_input_matches_pil_pipeline():
    rng = np.random.default_rng(1)
    frames = [rng.integers(0, 256, (120, 160, 3), dtype=np.uint8) for _ in range(6)]
    out = to_model_input(frames)
    assert out.shape == (1, 18, 64, 85) and out.dtype == np.float32
    expected = np.concatenate([_reference(f) for f in frames])[None]
    np.testing.assert_allclose(out, expected, atol=1e-5)
    np.testing.assert_allclose(out[0, 15:], _reference(frames[-1]), atol=1e-5)  # current frame last


def test_center_crop_to_4_3():
    wide = np.zeros((90, 200, 3), np.uint8)
    assert center_crop_4_3(wide).shape == (90, 120, 3)
    tall = np.zeros((200, 90, 3), np.uint8)
    assert center_crop_4_3(tall).shape == (67, 90, 3)
    cropped = preprocess_frame(wide, center_crop=True)
    assert cropped.shape == (3, 64, 85)


def test_rejects_non_rgb():
    with pytest.raises(ValueError, match="HxWx3 uint8"):
        preprocess_frame(np.zeros((10, 10), np.uint8))
    with pytest.raises(ValueError, match="at least one frame"):
        to_model_input([])


def _frame(value: int) -> np.ndarray:
    return np.full((12, 16, 3), value, np.uint8)


def _slot_values(buffer: ContextBuffer) -> list[int]:
    """Recover which frame value sits in each context slot (frames are flat colours)."""
    x = buffer.model_input()[0].reshape(-1, 3, 64, 85)[:, 0, 0, 0]
    return [int(round((v * STD[0] + MEAN[0]) * 255)) for v in x]


def test_context_frames_are_spaced_by_model_spacing_not_camera_rate():
    buffer = ContextBuffer(context_size=5, spacing_s=0.25)
    camera_hz = 9.0
    for i in range(20):  # 20 frames at 9 fps: value i at t = i/9
        buffer.push(_frame(i * 10), i / camera_hz)
    assert buffer.ready
    latest = 19 / camera_hz
    expected = [int(round((latest - k * 0.25) * camera_hz)) * 10 for k in range(5, -1, -1)]
    assert _slot_values(buffer) == expected
    assert _slot_values(buffer)[-1] == 190  # current frame last


def test_context_readiness_duplicates_and_time_jumps():
    buffer = ContextBuffer(context_size=5, spacing_s=0.25)
    for i in range(5):
        buffer.push(_frame(i), i * 0.25)
    assert not buffer.ready and 0.7 < buffer.fill < 1.0
    assert buffer.push(_frame(5), 1.25)
    assert buffer.ready
    assert not buffer.push(_frame(99), 1.25)  # duplicate stamp ignored
    assert buffer.push(_frame(7), -10.0)  # jump back in time (bag loop): restart
    assert buffer.fill == 0.0 and not buffer.ready


def test_a_frame_from_the_future_is_refused_and_cannot_freeze_the_context():
    buffer = ContextBuffer(context_size=5, spacing_s=0.25)
    for i in range(6):
        assert buffer.push(_frame(i), i * 0.25, now_s=i * 0.25 + 0.05)
    assert not buffer.push(_frame(50), 1.25 + 2.2, now_s=1.30)  # stamped 2.2 s ahead of the receiver's clock
    assert "in the future" in buffer.refusal
    assert buffer.push(_frame(6), 1.5, now_s=1.55)  # the next real frame still counts
    assert _slot_values(buffer)[-1] == 6
    assert not buffer.push(_frame(7), 1.4, now_s=1.6) and "went back" in buffer.refusal
    assert not buffer.push(_frame(8), float("nan"), now_s=1.6) and "not a time" in buffer.refusal
