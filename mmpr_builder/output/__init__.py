"""The output folder of a build: Parquet shards, the manifest, statistics, the card and the Hub upload.

Modules (none is imported here, so ``import mmpr_builder.output`` stays cheap):

- :mod:`~mmpr_builder.output.manifest`: the files of an output folder and their commit order.
- :mod:`~mmpr_builder.output.writer`: :class:`ShardWriter`, the only code that changes the folder.
- :mod:`~mmpr_builder.output.shard_rows`: row encoding and the shard being filled.
- :mod:`~mmpr_builder.output.responses`: the responses table (every response, labelled) and its rows.
- :mod:`~mmpr_builder.output.state`: read and check a folder (resume, ``mmpr inspect``).
- :mod:`~mmpr_builder.output.summary`: per-item stats -> the run summary.
- :mod:`~mmpr_builder.output.inspect`: the statistics of a folder (``mmpr inspect``).
- :mod:`~mmpr_builder.output.card`: the dataset card (README.md).
- :mod:`~mmpr_builder.output.hub`: upload shards and the card to the Hugging Face Hub.
- :mod:`~mmpr_builder.output.view`: ``mmpr view``, the HTML report (summary, plots, pair browser).
"""
