"""Views of a campaign: the HTML report and small terminal views.

* `loop.report.data.build_report(store, name) -> ReportData`: every figure's
  numbers (fits the campaign's GP for cross-validation and relevance);
* `loop.report.html.render_html(data) -> str`: one self-contained page;
* `loop.report.terminal`: sparklines and the `inspect --explain` panel.

Nothing is re-exported here, so `loop inspect` (which uses the terminal views)
does not import the modelling stack.
"""
