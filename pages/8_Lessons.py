"""Lessons: guided, step-by-step tours of the survey's claims. Lists the lesson files of lessons/
(title, section, steps, time), shows one lesson's claim and its steps as links, starts it, and makes
its printable handout. Widgets and layout only; the format, links and handouts are in genlab.lessons,
the panel each step shows in genlab.ui."""

import streamlit as st

from genlab import lessons as L
from genlab import ui

ui.setup_page(
    "Lessons",
    "Guided tours of the survey's claims for a class. Each lesson is a list of steps; a step opens one page of "
    "genlab with its settings in the link, and a panel in the sidebar gives the instruction and the question, "
    "**Back** and **Next**, the expected observation to reveal, and a figure genlab measures for the page's "
    "current state against the range the class should see. Teachers write their own lessons as TOML files in "
    f"`{L.lessons_dir()}/` (the format is in docs/lessons.md).",
    "📚",
)

lessons, errors = ui.lesson_index()
for e in errors:
    st.warning(e)
if not lessons:
    st.info(f"No lesson files in `{L.lessons_dir()}/`. Add one (docs/lessons.md shows the format), or set "
            "GENLAB_LESSONS to the folder that holds yours.")
    st.stop()

st.dataframe([{"lesson": lesson.title, "survey section": lesson.section, "steps": len(lesson.steps),
               "minutes": round(lesson.minutes), "file": lesson.path} for lesson in lessons], hide_index=True)

by_name = {lesson.name: lesson for lesson in lessons}
names = list(by_name)
c1, c2 = st.columns([2, 1])
name = c1.selectbox("Lesson", names, index=ui.url_index("show", names, names[0], what="a lesson listed here"),
                    format_func=lambda n: by_name[n].title, key="show")
st.query_params["show"] = name
hide = c2.toggle("Instructor mode: the links hide the controls each step does not need", key="hide",
                 value=ui.url_value("hide", False, bool),
                 help="Each step may list widgets it does not need; with this on, its link adds hide=true and "
                      "those widgets are hidden (they keep the step's settings).")
ui.url_write("hide", hide, False)
lesson = by_name[name]

st.subheader(lesson.title)
st.markdown(f"*Survey section:* {lesson.section} · {len(lesson.steps)} steps · about {lesson.minutes:g} minutes")
st.markdown(f"**The claim.** {lesson.claim}")
b1, b2 = st.columns(2)
if b1.button("▶ Start the lesson", key="start", type="primary"):
    ui.go_to_step(lesson, 1, hide)
base = (st.context.url or "").split("/Lessons")[0].rstrip("/") or "http://localhost:8501"
b2.download_button("Download the handout (Markdown)", L.handout(lesson, base, hide), f"{lesson.name}.md",
                   "text/markdown", key="handout", on_click="ignore",
                   help="The claim, each step with its link, its question and room for the answer; the expected "
                        "observations on a separate answer page. `genlab lessons --export NAME --out FILE.md` "
                        "writes the same.")

st.dataframe([{"step": i, "page": L.page_title(s.page), "instruction": s.instruction.replace("**", ""),
               "question": s.question,
               "check": f"{L.FIGURES[s.check.figure].label}: {s.check.range_text}" if s.check else "",
               "hidden controls": ", ".join(s.hide) if hide else "",
               "link": L.step_url(lesson, i, base, hide)}
              for i, s in enumerate(lesson.steps, 1)],
             hide_index=True, column_config={"link": st.column_config.LinkColumn("link", display_text="open")})
