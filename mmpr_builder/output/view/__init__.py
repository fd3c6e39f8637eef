"""``mmpr view``: an HTML report of an output folder (summary, plots, pair browser).

Modules:

- :mod:`~mmpr_builder.output.view.pairs`: committed pair rows by row number, thumbnails, search.
- :mod:`~mmpr_builder.output.view.stats`: the plots' data (pure functions of outcomes and row columns).
- :mod:`~mmpr_builder.output.view.svg`: inline SVG charts.
- :mod:`~mmpr_builder.output.view.report`: the page (``template.html``, ``viewer.css``, ``viewer.js``).
- :mod:`~mmpr_builder.output.view.server`: ``--serve``, the same page with data served on demand.
"""
