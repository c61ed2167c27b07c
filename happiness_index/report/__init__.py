"""The report layer: the annual main job, documents and the command line. The top layer.

Modules, lowest first:

* :mod:`.numbers` (Babel number and date formats), :mod:`.catalog` (the message catalog,
  ``locale/<lang>/LC_MESSAGES/report.po``), :mod:`.cells` (neutralising data for CSV, XLSX,
  Markdown), :mod:`.text` (formatting bound to a language, labels, Vietnamese sort order),
  :mod:`.model` (the document model);
* :mod:`.annex`, :mod:`.extra_sections`, :mod:`.sections` (what each section says),
  :mod:`.content` (:func:`~.content.build_document`: letterhead and sections);
* :mod:`.charts` (matplotlib), :mod:`.documents` (Markdown and HTML through the Jinja2
  templates in ``templates/``), :mod:`.word` (the Word report, Decree 30/2020/NĐ-CP),
  :mod:`.excel` (``tables.xlsx``), :mod:`.reproducible` (fixed time stamps in Office files);
* :mod:`.annual` (:func:`~.annual.run_annual`, :func:`~.annual.write_report_files`,
  :func:`~.annual.write_report`), :mod:`.outputs` and :mod:`.cli` (the command line).
"""
