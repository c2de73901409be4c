"""Second-stage classification on real photos: every box of a 1080p scene gives the answer its crop,
cut out by hand, gives (nv12, bgr8, jpeg frames; every resize mode); padding, clamping and bad
boxes; every filter; one decode per frame."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from box_scenes import jpeg, photo, scene
from ros_frames import nv12_bytes
from rdk_classifier import frames
from rdk_classifier.classifier import Classifier
from rdk_classifier.errors import BoxError, FrameError
from rdk_classifier.frames import RESIZE_MODES, Frame
from rdk_classifier.regions import Box, BoxFilter, box_rect, classify_boxes, crop_rect


@pytest.fixture(scope="module")
def the_scene():
    return scene()


@pytest.fixture(scope="module")
def classifiers():
    return {mode: Classifier.from_model(backend="cpu", resize_mode=mode) for mode in RESIZE_MODES}


def boxes_of(places) -> list[Box]:
    return [Box(*rect, class_id="object", score=1.0 - 0.1 * i, id=str(i))
            for i, (_, rect) in enumerate(places)]


def nv12_crop_by_hand(nv12: np.ndarray, width: int, height: int, rect) -> tuple[bytes, int, int]:
    """Cut rect out of a packed NV12 frame, rounded outwards to even coordinates, with numpy."""
    x, y, w, h = rect
    x0, y0 = x - x % 2, y - y % 2
    x1, y1 = min(width, x + w + (x + w) % 2), min(height, y + h + (y + h) % 2)
    planes = nv12.reshape(height * 3 // 2, width)
    yp = planes[y0:y1, x0:x1]
    uv = planes[height + y0 // 2:height + y1 // 2, x0:x1]
    return np.concatenate([yp.reshape(-1), uv.reshape(-1)]).tobytes(), x1 - x0, y1 - y0


def top_ids(result) -> list[int]:
    return [p.class_id for p in result.top]


@pytest.mark.parametrize("mode", RESIZE_MODES)
def test_bgr8_boxes_equal_hand_crops_and_the_photos_alone(the_scene, classifiers, mode):
    canvas, places = the_scene
    clf = classifiers[mode]
    h, w = canvas.shape[:2]
    frame = Frame.from_raw(canvas.reshape(-1), w, h, "bgr8")
    got = classify_boxes(clf, frame, boxes_of(places))
    assert [b.index for b in got.classified] == list(range(len(places)))
    for (name, (x, y, bw, bh)), b in zip(places, got.classified):
        assert b.rect == (x, y, bw, bh)
        by_hand = clf.classify_image(np.ascontiguousarray(canvas[y:y + bh, x:x + bw]))
        alone = clf.classify_image(photo(name))
        # the same pixels through the same path: the same answer, to the last bit
        assert top_ids(b.result) == top_ids(by_hand) == top_ids(alone), name
        assert [p.score for p in b.result.top] == [p.score for p in by_hand.top]


@pytest.mark.parametrize("mode", RESIZE_MODES)
def test_nv12_boxes_equal_hand_crops(the_scene, classifiers, mode):
    canvas, places = the_scene
    clf = classifiers[mode]
    h, w = canvas.shape[:2]
    pad = 64
    buf = nv12_bytes(canvas, step=w + pad)  # padded rows, as some cameras send
    frame = Frame.from_raw(buf, w, h, "nv12", step=w + pad)
    got = classify_boxes(clf, frame, boxes_of(places))
    packed = nv12_bytes(canvas)
    assert len(got.classified) == len(places)
    for (name, rect), b in zip(places, got.classified):
        data, cw, ch = nv12_crop_by_hand(packed, w, h, rect)
        assert b.rect[2:] == (cw, ch) and b.rect[0] % 2 == 0 and b.rect[1] % 2 == 0
        by_hand = clf.classify_raw(data, cw, ch, "nv12")
        assert top_ids(b.result)[0] == top_ids(by_hand)[0], name
        assert [p.score for p in b.result.top] == pytest.approx([p.score for p in by_hand.top],
                                                               abs=1e-6)


@pytest.mark.parametrize("mode", RESIZE_MODES)
def test_jpeg_boxes_equal_hand_crops(the_scene, classifiers, mode, monkeypatch):
    canvas, places = the_scene
    clf = classifiers[mode]
    data = jpeg(canvas)
    decodes = []
    real = frames.decode_image
    monkeypatch.setattr(frames, "decode_image",
                        lambda *a, **k: decodes.append(1) or real(*a, **k))
    frame = Frame.from_encoded(data)
    got = classify_boxes(clf, frame, boxes_of(places))
    assert len(decodes) == 1  # one decode for the frame, whatever the number of boxes
    assert frame.decode_ms > 0 and got.decode_ms == frame.decode_ms
    decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    for (name, (x, y, bw, bh)), b in zip(places, got.classified):
        by_hand = clf.classify_image(np.ascontiguousarray(decoded[y:y + bh, x:x + bw]))
        assert top_ids(b.result)[0] == top_ids(by_hand)[0], name
        assert [p.score for p in b.result.top] == [p.score for p in by_hand.top]


def test_boxes_classify_what_is_in_them(the_scene, classifier):
    """Sanity on the scene itself: the cat box says cat, the cup box espresso."""
    canvas, places = the_scene
    h, w = canvas.shape[:2]
    frame = Frame.from_raw(nv12_bytes(canvas), w, h, "nv12")
    got = classify_boxes(classifier, frame, boxes_of(places[:2]))
    cat, cup = got.classified
    assert cat.result.top[0].class_id in range(281, 286)
    assert cup.result.top[0].label == "espresso"


def test_crops_are_views_of_the_frame(the_scene):
    canvas, places = the_scene
    h, w = canvas.shape[:2]
    buf = nv12_bytes(canvas)
    frame = Frame.from_raw(buf, w, h, "nv12")
    y, uv = frame.crop(box_rect(frame, Box(*places[0][1])))
    assert np.shares_memory(y, buf) and np.shares_memory(uv, buf)
    raw = canvas.reshape(-1)
    frame = Frame.from_raw(raw, w, h, "bgr8")
    (view,) = frame.crop(box_rect(frame, Box(*places[1][1])))
    assert np.shares_memory(view, raw)


def test_padding_and_clamping(the_scene, classifier):
    canvas, places = the_scene
    h, w = canvas.shape[:2]
    frame = Frame.from_image(canvas)
    x, y, bw, bh = places[0][1]  # chelsea at (101, 57), 451x300
    assert (x, y, bw, bh) == (101, 57, 451, 300)
    # 15 % of 451 x 300 on each side: 67.65 and 45 pixels, rounded outwards
    pad = 0.15
    rect = box_rect(frame, Box(x, y, bw, bh), pad)
    assert rect == (33, 12, 620 - 33, 402 - 12)
    # 25 %: the left and top edges end at the frame's
    assert box_rect(frame, Box(x, y, bw, bh), 0.25) == (0, 0, 665, 432)
    got = classify_boxes(classifier, frame, [Box(x, y, bw, bh)], BoxFilter(padding=pad))
    x0, y0, cw, ch = rect
    by_hand = classifier.classify_image(np.ascontiguousarray(canvas[y0:y0 + ch, x0:x0 + cw]))
    assert top_ids(got.classified[0].result) == top_ids(by_hand)
    # partly outside: clamped to the frame
    assert crop_rect(Box(-50, -20, 100, 60), w, h) == (0, 0, 50, 40)
    assert crop_rect(Box(1900, 1070, 100, 100), w, h) == (1900, 1070, 20, 10)
    # NV12: outwards to even coordinates, never past the frame
    assert crop_rect(Box(3, 5, 4, 4), w, h, align=2) == (2, 4, 6, 6)
    assert crop_rect(Box(1917, 1077, 9, 9), w, h, align=2) == (1916, 1076, 4, 4)
    assert crop_rect(Box(10, 10, 1, 1), w, h, align=2) == (10, 10, 2, 2)
    # a huge box is the whole frame (no overflow on the way)
    assert crop_rect(Box(0, 0, 1e308, 1e308), w, h, padding=2.0) == (0, 0, w, h)
    # a Detection2D-style float box: whole pixels that cover it
    assert crop_rect(Box.from_center(100.5, 50.5, 11, 7), w, h) == (95, 47, 11, 7)
    assert crop_rect(Box.from_center(100.25, 50.25, 11, 7), w, h) == (94, 46, 12, 8)


@pytest.mark.parametrize("box, why", [
    (Box(10, 10, 0, 5), "empty"), (Box(10, 10, 5, -1), "empty"),
    (Box(float("nan"), 0, 5, 5), "finite"), (Box(0, 0, float("inf"), 5), "finite"),
    (Box(2000, 10, 50, 50), "outside"), (Box(-100, -100, 50, 50), "outside"),
    (Box(1920, 0, 10, 10), "outside"), (Box(-1e308, 0, 1e308, 5), "outside"),
])
def test_a_bad_box_is_refused_alone(the_scene, classifier, box, why):
    canvas, places = the_scene
    frame = Frame.from_image(canvas)
    with pytest.raises(BoxError, match=why):
        box_rect(frame, box)
    good = Box(*places[1][1])
    got = classify_boxes(classifier, frame, [box, good])
    assert [b.index for b in got.classified] == [1]
    (bad,) = got.failed
    assert bad.index == 0 and why in bad.error and "\n" not in bad.error
    assert got.classified[0].result.top[0].label == "espresso"
    assert isinstance(BoxError("x"), FrameError)


def test_filters():
    boxes = [Box(0, 0, 10, 10, class_id="person", score=0.9, id="a"),
             Box(0, 0, 100, 100, class_id="car", score=0.5, id="b"),
             Box(0, 0, 50, 50, class_id="person", score=0.3, id="c"),
             Box(0, 0, 200, 20, class_id="person", score=0.7, id="d"),
             Box(0, 0, 80, 80, class_id="person", score=None, id="e")]
    keep, counts = BoxFilter().select(boxes)
    assert keep == [0, 1, 2, 3, 4] and counts.total == 0
    keep, counts = BoxFilter(classes=("person",)).select(boxes)
    assert keep == [0, 2, 3, 4] and counts.by_class == 1
    keep, counts = BoxFilter(min_size=20).select(boxes)
    assert keep == [1, 2, 3, 4] and counts.by_size == 1
    keep, counts = BoxFilter(min_score=0.5).select(boxes)  # no score: left out
    assert keep == [0, 1, 3] and counts.by_score == 2
    keep, counts = BoxFilter(max_boxes=2, order="score").select(boxes)
    assert keep == [0, 3] and counts.by_limit == 3      # 0.9 and 0.7, in input order
    keep, counts = BoxFilter(max_boxes=2, order="area").select(boxes)
    assert keep == [1, 4] and counts.by_limit == 3      # 100x100 and 80x80
    keep, counts = BoxFilter(classes=("person",), min_size=20, max_boxes=1,
                             order="area").select(boxes)
    assert keep == [4] and (counts.by_class, counts.by_size, counts.by_limit) == (1, 1, 2)
    ties = [Box(0, 0, 10, 10, score=0.5) for _ in range(4)]
    assert BoxFilter(max_boxes=2).select(ties)[0] == [0, 1]  # ties: the earlier wins
    assert BoxFilter(max_boxes=0).problems() and BoxFilter(order="size").problems()
    assert BoxFilter(padding=-0.1).problems() and BoxFilter(padding=float("nan")).problems()
    with pytest.raises(ValueError, match="box order"):
        BoxFilter(order="biggest").check()


def test_filters_apply_in_classify_boxes(the_scene, classifier):
    canvas, places = the_scene
    frame = Frame.from_image(canvas)
    boxes = [Box(*rect, class_id="cat" if "chelsea" in name else "thing", score=0.5)
             for name, rect in places]
    got = classify_boxes(classifier, frame, boxes, BoxFilter(classes=("cat",)))
    assert [b.index for b in got.boxes] == [0] and got.filtered.by_class == len(places) - 1
    got = classify_boxes(classifier, frame, boxes, BoxFilter(max_boxes=3, order="area"))
    areas = sorted(range(len(places)), key=lambda i: -boxes[i].area)[:3]
    assert [b.index for b in got.boxes] == sorted(areas)


def test_other_encodings_crop_in_their_domain(the_scene, classifier):
    canvas, places = the_scene
    h, w = canvas.shape[:2]
    x, y, bw, bh = places[1][1]
    rgb = np.ascontiguousarray(canvas[:, :, ::-1])
    a = classify_boxes(classifier, Frame.from_raw(rgb.reshape(-1), w, h, "rgb8"),
                       [Box(x, y, bw, bh)])
    b = classify_boxes(classifier, Frame.from_raw(canvas.reshape(-1), w, h, "bgr8"),
                       [Box(x, y, bw, bh)])
    assert top_ids(a.classified[0].result) == top_ids(b.classified[0].result)
    gray = cv2.cvtColor(canvas, cv2.COLOR_BGR2GRAY)
    m = classify_boxes(classifier, Frame.from_raw(gray.reshape(-1), w, h, "mono8"),
                       [Box(x, y, bw, bh)])
    by_hand = classifier.classify_image(np.ascontiguousarray(gray[y:y + bh, x:x + bw]))
    assert top_ids(m.classified[0].result) == top_ids(by_hand)
    yuyv = cv2.cvtColor(canvas, cv2.COLOR_BGR2YUV_YUYV) if hasattr(cv2, "COLOR_BGR2YUV_YUYV") \
        else None
    if yuyv is not None:
        f = Frame.from_raw(yuyv.reshape(-1), w, h, "yuyv")
        assert f.encoding == "bgr8" and f.width == w


@pytest.mark.parametrize("args, error", [
    ((b"\x00" * 10, 1920, 1080, "nv12"), "expected"),
    ((b"\x00" * 100, 10, 10, "bgr8"), "expected"),
    ((b"\x00" * 100, 7, 4, "nv12"), "even"),
    ((b"", 0, 10, "bgr8"), "empty"),
    ((b"\x00" * 100, 10, 10, "bayer_rggb8"), "unsupported encoding"),
])
def test_bad_frames_are_frame_errors(args, error):
    with pytest.raises(FrameError, match=error):
        Frame.from_raw(*args)


def test_corrupt_jpeg_is_a_frame_error():
    with pytest.raises(FrameError, match="decode|truncated or malformed"):
        Frame.from_encoded(jpeg(np.zeros((64, 64, 3), np.uint8))[:100])


def test_result_dicts(the_scene, classifier):
    canvas, places = the_scene
    frame = Frame.from_image(canvas)
    got = classify_boxes(classifier, frame, [Box(*places[1][1], id="cup"), Box(5000, 0, 5, 5)])
    ok, bad = got.boxes
    d = ok.to_dict()
    assert d["box"]["id"] == "cup" and d["top"][0]["label"] == "espresso"
    assert set(d["timing_ms"]) == {"preprocess", "inference", "postprocess"}
    assert bad.to_dict()["error"].startswith("box ")
    pre, inf, post = got.stage_ms()
    assert inf == ok.result.timing_ms.inference and pre >= ok.result.timing_ms.preprocess


_coord = st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=64),
                   st.integers(-10**12, 10**12))


@settings(max_examples=200, deadline=None)
@given(_coord, _coord, _coord, _coord, st.floats(0, 2), st.sampled_from([1, 2]),
       st.integers(1, 2000).map(lambda v: v * 2), st.integers(1, 2000).map(lambda v: v * 2))
def test_fuzz_box_geometry(x, y, w, h, padding, align, fw, fh):
    """Any box a detector message can carry (NaN, inf, huge, negative): a crop inside the frame
    (even on NV12) or BoxError, nothing else."""
    try:
        cx, cy, cw, ch = crop_rect(Box(x, y, w, h), fw, fh, padding, align)
    except BoxError as exc:
        assert "\n" not in str(exc)
        return
    assert 0 <= cx and 0 <= cy and cw >= align and ch >= align
    assert cx + cw <= fw and cy + ch <= fh
    if align == 2:
        assert cx % 2 == cy % 2 == cw % 2 == ch % 2 == 0


def test_a_frame_over_the_pixel_budget_is_refused_before_its_buffer_is_read():
    """Box frames go through the same budget as whole frames (one Frame type): a header that
    claims 60 MP is refused for its size, not for its (short) buffer."""
    from rdk_classifier.errors import FrameSizeError
    from rdk_classifier.frames import DEFAULT_MAX_PIXELS

    with pytest.raises(FrameSizeError, match="pixel budget"):
        Frame.from_raw(b"\x00" * 100, 10000, 6000, "nv12")
    with pytest.raises(FrameSizeError, match="pixel budget"):
        Frame.from_raw(b"\x00" * 100, 10000, 6000, "bgr8", max_pixels=DEFAULT_MAX_PIXELS // 2)
    with pytest.raises(FrameSizeError, match="expected"):  # budget off: the buffer is checked
        Frame.from_raw(b"\x00" * 100, 10000, 6000, "nv12", max_pixels=0)
