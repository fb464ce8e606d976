"""Lessons (issue 33): the shipped lesson files parse, every step's link opens its page with its settings
accepted, every check's figure on the shipped checkpoints lies in the lesson's range, a broken lesson
file is one sentence naming the file, the step and the field, the panel's Back / Next / Open move
between steps, links with bad lesson parameters are named and never raise, and the handout and
`genlab lessons --urls` hold every step.

Pages and checks run on the shipped checkpoints (checkpoints/, the runs folder empty), from the
repository root, since the lessons' settings name them by path. On two busy cores the whole file takes
about three and a half minutes: the live-run checks train four small GANs (about a minute), and the 38
step links open their pages (about a minute and a half; the pages' caches are shared between the links).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from streamlit.testing.v1 import AppTest

from genlab import lessons as L
from genlab.cli import main

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 180  # seconds per script run: the first page run imports torch and loads the sprite index


@pytest.fixture(scope="module")
def shipped(tmp_path_factory):
    """The repository root as the working directory, the shipped checkpoints, an empty runs folder and a
    private cache: what a class that installed genlab sees."""
    root = tmp_path_factory.mktemp("lessons")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(ROOT)
        mp.setenv("GENLAB_CHECKPOINTS", "checkpoints")
        mp.setenv("GENLAB_RUNS", str(root / "runs"))
        mp.setenv("GENLAB_CACHE", str(root / "cache"))
        mp.delenv("GENLAB_LESSONS", raising=False)
        yield root


def shipped_lessons() -> list[L.Lesson]:
    lessons, errors = L.load_lessons(ROOT / "lessons")
    assert errors == []
    return lessons


CHECKED = [(lesson.name, i) for lesson in shipped_lessons() for i, s in enumerate(lesson.steps, 1) if s.check]


def lesson_named(name: str) -> L.Lesson:
    return next(lesson for lesson in shipped_lessons() if lesson.name == name)


def ignored(at: AppTest) -> str:
    return " ".join(c.value.replace("\\", "") for c in at.caption if c.value.startswith("Ignored in the link"))


def widget_keys(at: AppTest) -> set[str]:
    """The user keys of every widget the run drew (widget ids end in -<key>)."""
    return {w.id.split("-", 2)[2] for w in at._tree.get_widget_states().widgets if w.id.count("-") >= 2}


def open_link(page: str, query: dict) -> AppTest:
    """A page opened from a link, as a student's browser would: its file run with the link's query."""
    at = AppTest.from_file(str(ROOT / L.page_file(page)), default_timeout=TIMEOUT)
    for k, v in query.items():
        at.query_params[k] = v
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


# --------------------------------------------------------------------------- the shipped lessons


def test_the_shipped_lessons_cover_the_issue():
    lessons = shipped_lessons()
    assert len(lessons) >= 6 and sum(len(lesson.steps) for lesson in lessons) >= 24
    by = {lesson.name: lesson for lesson in lessons}
    beta = by["beta-disentanglement"].steps
    assert any(s.settings.get("group", "").startswith("study:beta-sweep") and s.settings.get("train_seed") == "1"
               for s in beta)  # the study's seeds
    assert any("step" in s.settings for s in beta)  # the timeline
    blur = by["blur-vs-sharpness"].steps
    assert any(s.check and s.check.args.get("metric", "").startswith("nearest_real") for s in blur)
    mc = by["mode-collapse"].steps
    assert any(s.settings.get("view") == "ab" and s.settings.get("b_mbd") == "true" for s in mc)  # a trick, A/B
    wgan = {s.settings.get("b_loss") for s in by["wgan-vs-gan"].steps}
    assert {"wgan", "wgan-gp"} <= wgan
    assert {s.check.figure for s in by["wgan-vs-gan"].steps if s.check} >= {"critic_max_weight", "critic_grad_norm",
                                                                           "critic_estimate"}
    assert all(s.settings.get("group", "").endswith("infogan/model") or s.page != "Latent_traversal"
               for s in by["infogan-codes"].steps[:3])
    assert {s.page for s in by["holes-in-the-prior"].steps} == {"Code_space"}
    unified = by["unified-view"].steps
    assert {s.page for s in unified} == {"Unified_view"}
    metrics = {(s.check.args.get("checkpoint"), s.check.args.get("metric")) for s in unified if s.check}
    assert {("ring-iwgan", "modes_captured"), ("ring-gan", "modes_captured"),  # a transfer beside its baseline
            ("dsprites-cyclegan", "a2b_read_as_target"),
            ("dsprites-cyclegan-no-cycle", "b2a_position_kept")} <= metrics  # what the cycle loss buys
    assert any(s.settings.get("ckpt") == "checkpoints/dsprites-cyclegan/model" for s in unified)
    for lesson in lessons:  # every step a question and an observation; most a check
        assert all(s.question and s.expected and s.instruction for s in lesson.steps)
        assert sum(s.check is not None for s in lesson.steps) >= len(lesson.steps) - 1


def test_the_page_parameters_are_the_pages_own():
    """A lesson's settings must be parameters its page reads: the list lessons.py keeps is the one the
    link-validation tests keep for each page."""
    from test_page_params import PAGES as READ

    files = {p: Path(L.page_file(p)).name for p in L.PAGE_PARAMS}
    for page, file in files.items():
        if file in READ:
            theirs = set(READ[file][0]) - {"per_click"}  # a widget key, not a link parameter
            assert theirs <= set(L.PAGE_PARAMS[page]), (page, theirs - set(L.PAGE_PARAMS[page]))


@pytest.mark.parametrize("name, i", CHECKED, ids=[f"{n}-{i}" for n, i in CHECKED])
def test_each_check_holds_on_the_shipped_checkpoints(shipped, name, i):
    step = lesson_named(name).steps[i - 1]
    got = L.measure(step.check, step.page, step.settings)
    assert step.check.holds(got.value), (got, step.check.range_text)
    assert got.what and got.source


@pytest.mark.parametrize("name", [lesson.name for lesson in shipped_lessons()])
def test_every_step_link_opens_its_page(shipped, name):
    """Each step's link, in instructor mode: the page runs with no exception and takes every setting of the
    preset (nothing is named as ignored), the panel shows the step, the controls the step hides are real
    widgets of the page, and a check that reads a checkpoint is measured on arrival, within its range."""
    lesson = lesson_named(name)
    for i, step in enumerate(lesson.steps, 1):
        at = open_link(step.page, L.step_query(lesson, i, hide=True))
        assert at.title[0].value == L.page_title(step.page), (name, i)
        assert ignored(at) == "", (name, i, ignored(at))
        assert not at.error, (name, i, [e.value for e in at.error])
        side = " ".join(m.value for m in at.sidebar.markdown)
        assert f"step {i} of {len(lesson.steps)}" in side and step.question in side, (name, i)
        keys = widget_keys(at)
        for h in step.hide:
            assert any(k == h or (h.endswith("*") and k.startswith(h[:-1])) for k in keys), (name, i, h)
        styles = [m.value for m in at.markdown if m.value.startswith("<style>")]
        assert bool(styles) == bool(step.hide), (name, i)
        if step.check and not L.is_slow(step.check):
            (measured,) = at.sidebar.metric
            assert at.sidebar.success and not at.sidebar.warning, (name, i, measured.label, measured.value)


# --------------------------------------------------------------------------- the panel in the app


def _warm_router():
    """app.py's router as a served app has it after its first visit. AppTest runs a multipage app's page
    file directly first (its v1 mode) and genlab.ui then reruns through app.py, which would swallow a
    button's click; a served app does that once, on its first visit only."""
    from streamlit.runtime.pages_manager import PagesManager

    PagesManager.uses_pages_directory = False


def test_open_next_and_back_move_between_steps_with_fresh_page_state(shipped, monkeypatch):
    from genlab import ui

    monkeypatch.setattr(ui, "_use_the_router", _warm_router)
    lesson = lesson_named("holes-in-the-prior")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.query_params["lesson"] = lesson.name
    at.run()  # the home page: the panel offers the step's own page
    assert "This step is on the Code space page." in [i.value for i in at.sidebar.info]
    at.button(key="_lesson_open").click().run()
    assert at.title[0].value == "Code space" and at.query_params["lesson_step"] == "1"
    assert at.button(key="_lesson_back").disabled and not at.button(key="_lesson_next").disabled
    assert at.selectbox(key="colour").value == "posX"
    at.selectbox(key="colour").set_value("scale").run()  # the student changes the view …
    at.button(key="_lesson_next").click().run()  # … and Next opens step 2 from its own settings
    assert at.query_params["lesson_step"] == "2" and at.selectbox(key="colour").value == "posX"
    assert {k: at.query_params[k] for k in lesson.steps[1].settings} == lesson.steps[1].settings
    assert not at.exception
    at.button(key="_lesson_next").click().run()
    assert at.selectbox(key="ckpt").value == "checkpoints/dsprites-aae/model"
    assert at.sidebar.metric[0].value == "1"  # every prior sample of the AAE in a hole
    at.button(key="_lesson_back").click().run()
    assert at.query_params["lesson_step"] == "2" and at.selectbox(key="ckpt").value.endswith("beta-vae-b4/model")
    # the reveal and the answer
    assert not at.sidebar.success
    at.toggle(key=f"_lesson_reveal|{lesson.name}|2").set_value(True).run()
    assert lesson.steps[1].expected in at.sidebar.success[0].value


def test_a_live_check_is_measured_on_request(shipped):
    lesson = lesson_named("mode-collapse")
    at = open_link("Mode_collapse", L.step_query(lesson, 5))
    assert not at.sidebar.metric  # training a run waits for the button
    assert at.button(key="_lesson_measure").label == "Measure (trains 1,000 steps)"
    at.button(key="_lesson_measure").click().run()
    (m,) = at.sidebar.metric
    said = " ".join(c.value for c in at.sidebar.caption)
    assert m.label == "modes captured" and "Modes captured of run A" in said and "after 1,000 steps" in said
    assert at.sidebar.success and m.value in ("0", "1", "2")


def test_multiple_choice_answer_is_revealed(shipped):
    lesson = lesson_named("beta-disentanglement")
    at = open_link("Latent_traversal", L.step_query(lesson, 3))
    radio = at.sidebar.radio(key="_lesson_choice|beta-disentanglement|3")
    assert radio.value is None and len(radio.options) == 3
    at.toggle(key="_lesson_reveal|beta-disentanglement|3").set_value(True).run()
    assert "Answer: (b) the positions (posX and posY)" in at.sidebar.success[0].value.replace("**", "")


@pytest.mark.parametrize("query, named, step", [
    ({"lesson": "nope"}, "lesson=nope (not a lesson in lessons/)", None),
    ({"lesson": "../../etc/passwd"}, "lesson=../../etc/passwd (not a lesson in lessons/)", None),
    ({"lesson": "holes-in-the-prior", "lesson_step": "99"}, "lesson_step=99 (must be 1–6)", 1),
    ({"lesson": "holes-in-the-prior", "lesson_step": "-1"}, "lesson_step=-1 (must be 1–6)", 1),
    ({"lesson": "holes-in-the-prior", "lesson_step": "abc"}, "lesson_step=abc (not a number)", 1),
    ({"lesson": "holes-in-the-prior", "lesson_step": "9" * 400}, "(must be 1–6)", 1),
    ({"lesson": "holes-in-the-prior", "lesson_step": "2", "hide": "maybe"}, "hide=maybe (must be true or false)", 2),
])
def test_bad_lesson_links_are_named_never_raised(shipped, query, named, step):
    at = open_link("Code_space", query)
    assert named in ignored(at), ignored(at)
    side = " ".join(m.value for m in at.sidebar.markdown)
    assert (f"step {step} of 6" in side) if step else "step" not in side
    assert not [m for m in at.markdown if m.value.startswith("<style>")]  # nothing hidden by a bad link


def test_a_broken_lesson_file_is_its_sentence_in_the_panel(shipped, monkeypatch, tmp_path):
    (tmp_path / "broken.toml").write_text((ROOT / "lessons" / "holes-in-the-prior.toml").read_text()
                                          .replace('range = [0.95, 1.0]', 'range = [1.0, 0.95]'))
    monkeypatch.setenv("GENLAB_LESSONS", str(tmp_path))
    at = open_link("Code_space", {"lesson": "broken"})
    (err,) = at.sidebar.error
    assert err.value == (f"{tmp_path / 'broken.toml'}, step 3, field check.range: must be two numbers [low, high] "
                         "with low ≤ high (got [1.0, 0.95]).")


def test_the_lessons_page_lists_links_and_hands_out(shipped):
    lessons = shipped_lessons()
    at = open_link("Lessons", {"show": "wgan-vs-gan"})
    table = at.dataframe[0].value
    assert list(table["lesson"]) == [lesson.title for lesson in lessons]
    assert list(table["steps"]) == [len(lesson.steps) for lesson in lessons]
    steps = at.dataframe[1].value
    lesson = lesson_named("wgan-vs-gan")
    assert list(steps["link"]) == [L.step_url(lesson, i, "http://localhost:8501") for i in range(1, 6)]
    assert at.get("download_button")
    at.toggle(key="hide").set_value(True).run()
    assert all("hide=true" in u for u in at.dataframe[1].value["link"]) and at.query_params["hide"] == "true"
    at = open_link("Lessons", {"show": "zzz"})
    assert "show=zzz (not a lesson listed here)" in ignored(at)


# --------------------------------------------------------------------------- malformed lesson files

GOOD = '''title = "A lesson"
section = "§2"
claim = "Something true."

[[steps]]
page = "Latent_traversal"
settings = { beta = 4, start = "prior" }
instruction = "Look."
question = "What?"
expected = "That."
choices = ["a", "b"]
answer = 1
hide = ["beta"]
check = { figure = "factor_mig", factor = "posX", range = [0.0, 0.5] }

[[steps]]
page = "Code_space"
settings = { ckpt = "x", n = 500 }
instruction = "Look again."
question = "Why?"
expected = "Because."
minutes = 2
'''


def test_a_good_lesson_parses_into_its_parts():
    lesson = L.parse_lesson(GOOD, "lessons/a-lesson.toml")
    s1, s2 = lesson.steps
    assert (lesson.name, lesson.title, lesson.minutes) == ("a-lesson", "A lesson", 5.0)
    assert s1.settings == {"beta": "4", "start": "prior"} and s1.choices == ("a", "b") and s1.answer == 1
    assert s1.check == L.Check("factor_mig", 0.0, 0.5, {"factor": "posX"}) and s1.hide == ("beta",)
    assert s2.check is None and s2.minutes == 2.0
    assert L.step_url(lesson, 2) == "/Code_space?ckpt=x&n=500&lesson=a-lesson&lesson_step=2"
    assert L.step_url(lesson, 1, hide=True).endswith("&lesson_step=1&hide=true")


@pytest.mark.parametrize("old, new, says", [
    ('title = "A lesson"', 'title = "A lesson', "lessons/a-lesson.toml: not valid TOML ("),
    ('title = "A lesson"\n', "", "lessons/a-lesson.toml, field title: missing."),
    ('title = "A lesson"', 'titel = "A lesson"', "lessons/a-lesson.toml, field titel: 'titel' is not a lesson field"),
    ('claim = "Something true."', 'claim = ""', "lessons/a-lesson.toml, field claim: must be a non-empty string."),
    ('page = "Latent_traversal"', 'page = "Latent_travesal"',
     "lessons/a-lesson.toml, step 1, field page: 'Latent_travesal' is not a page a lesson can open"),
    ('settings = { ckpt = "x", n = 500 }', 'settings = { ckpt = "x", beta = 2 }',
     "lessons/a-lesson.toml, step 2, field settings.beta: the Code_space page reads no 'beta'"),
    ('settings = { ckpt = "x", n = 500 }', 'settings = { lesson_step = 3 }',
     "step 2, field settings.lesson_step: 'lesson_step' is the lesson's own parameter"),
    ('question = "Why?"', 'questoin = "Why?"', "step 2, field questoin: 'questoin' is not a step field"),
    ('question = "Why?"\n', "", "lessons/a-lesson.toml, step 2, field question: missing."),
    ('range = [0.0, 0.5]', 'range = [0.5, 0.0]',
     "step 1, field check.range: must be two numbers [low, high] with low ≤ high (got [0.5, 0.0])."),
    ('range = [0.0, 0.5]', 'range = ["low", 0.5]', "step 1, field check.range: must be two numbers"),
    (', range = [0.0, 0.5]', "", "step 1, field check.range: missing."),
    ('figure = "factor_mig"', 'figure = "migg"', "step 1, field check.figure: 'migg' is not a figure genlab computes"),
    ('factor = "posX"', 'factor = "colour"', "step 1, field check.factor: must be one of shape, scale, orientation"),
    ('factor = "posX", ', "", "step 1, field check.factor: missing (the figure factor_mig needs it)."),
    ('factor = "posX"', 'factr = "posX"', "step 1, field check.factr: 'factr' is not a setting of the figure factor_mig"),
    ('choices = ["a", "b"]', 'choices = ["a"]', "step 1, field choices: must be a list of 2 to 8 non-empty strings."),
    ('answer = 1', 'answer = 3', "step 1, field answer: must be the number of one of the 2 choices (1–2)."),
    ('choices = ["a", "b"]\n', "", "step 1, field answer: given without choices."),
    ('hide = ["beta"]', 'hide = ["betta"]', "step 1, field hide: 'betta' is not a control of the Latent_traversal page"),
    ('minutes = 2', 'minutes = 0', "step 2, field minutes: must be a number of minutes above 0 and at most 120."),
    ('[[steps]]\npage = "Code_space"', '[steps2]\npage = "Code_space"', "field steps2: 'steps2' is not a lesson field"),
])
def test_a_malformed_lesson_is_one_sentence_naming_file_step_and_field(old, new, says):
    assert GOOD.count(old) >= 1
    with pytest.raises(L.LessonError) as e:
        L.parse_lesson(GOOD.replace(old, new, 1), "lessons/a-lesson.toml")
    msg = str(e.value)
    assert says in msg, msg
    assert msg.startswith("lessons/a-lesson.toml") and msg.endswith(".") and "\n" not in msg


def test_lessons_without_steps_and_badly_named_files_are_refused(tmp_path):
    head = GOOD.split("[[steps]]")[0]
    with pytest.raises(L.LessonError, match=r"^x\.toml, field steps: missing: a lesson needs at least one"):
        L.parse_lesson(head, "x.toml")
    with pytest.raises(L.LessonError, match="lower-case letters, digits and dashes"):
        L.parse_lesson(GOOD, "lessons/My Lesson.toml")
    (tmp_path / "good.toml").write_text(GOOD)
    (tmp_path / "bad.toml").write_text(GOOD.replace("answer = 1", "answer = 5"))
    (tmp_path / "notes.txt").write_text("not a lesson")
    lessons, errors = L.load_lessons(tmp_path)
    assert [lesson.name for lesson in lessons] == ["good"]
    assert errors == [f"{tmp_path / 'bad.toml'}, step 1, field answer: must be the number of one of the 2 choices (1–2)."]


def test_hiding_is_a_style_on_the_widget_keys_and_nothing_else():
    css = L.hide_css(["beta", "train_seed*", "x{}</style><script>", "b_*"])
    assert css == ('<style>.st-key-beta, [class*="st-key-train_seed"], [class*="st-key-b_"] '
                   '{display: none !important;}</style>')
    assert L.hide_css([]) == ""
    for page, controls in L.PAGE_CONTROLS.items():  # every declared control has a name the style can carry
        assert all(L.CONTROL_RE.fullmatch(c) for c in controls), page


# --------------------------------------------------------------------------- handouts and the command line


def test_the_handout_holds_every_step_and_puts_the_answers_apart():
    for lesson in shipped_lessons():
        text = L.handout(lesson, "http://class.example:8501")
        questions, answers = text.split('<div style="page-break-before: always"></div>')
        assert lesson.claim in questions
        for i, s in enumerate(lesson.steps, 1):
            assert f"## Step {i}: {L.page_title(s.page)}" in questions
            assert L.step_url(lesson, i, "http://class.example:8501") in questions and s.question in questions
            assert s.expected in answers and s.expected not in questions
            assert f"**Step {i}.**" in answers
            if s.check:
                assert s.check.range_text in answers.split(f"**Step {i}.**")[1].split("**Step")[0]
        assert questions.count("*Your answer:*") == len(lesson.steps)


def test_cli_urls_lists_every_step_link(capsys):
    assert main(["lessons", "--urls", "--dir", str(ROOT / "lessons")]) == 0
    lines = capsys.readouterr().out.splitlines()
    want = [L.step_url(lesson, i) for lesson in shipped_lessons() for i in range(1, len(lesson.steps) + 1)]
    assert lines == want and len(lines) >= 24
    for line in lines:
        u = urlparse(line)
        q = parse_qs(u.query)
        assert line.startswith("/") and u.path.lstrip("/") in L.PAGE_PARAMS
        assert q["lesson"][0] in {lesson.name for lesson in shipped_lessons()} and q["lesson_step"][0].isdigit()


def test_cli_export_writes_the_handout_and_refuses_in_one_line(tmp_path, capsys):
    out = tmp_path / "handouts" / "wgan.md"
    assert main(["lessons", "--dir", str(ROOT / "lessons"), "--export", "wgan-vs-gan", "--out", str(out)]) == 0
    lesson = lesson_named("wgan-vs-gan")
    assert out.read_text() == L.handout(lesson)
    assert main(["lessons", "--dir", str(ROOT / "lessons"), "--export", "nope", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("genlab lessons: error: no lesson named nope in") and "\n" not in err
    assert main(["lessons", "--dir", str(ROOT / "lessons"), "--export", "wgan-vs-gan"]) == 2
    assert "--export needs --out" in capsys.readouterr().err


def test_cli_lists_lessons_and_names_broken_files(tmp_path, capsys):
    (tmp_path / "good.toml").write_text(GOOD)
    (tmp_path / "bad.toml").write_text(GOOD.replace('page = "Code_space"', 'page = "Nowhere"'))
    assert main(["lessons", "--dir", str(tmp_path)]) == 2
    out, err = capsys.readouterr()
    assert out.startswith("good ") and "2 steps" in out and "A lesson (§2)" in out
    assert err.strip() == f"genlab lessons: {tmp_path / 'bad.toml'}, step 2, field page: 'Nowhere' is not a page a " \
                          f"lesson can open (one of {', '.join(L.PAGE_PARAMS)})."
