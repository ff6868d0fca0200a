"""The content store: files of a connector (firmware, configuration, media) that devices list,
inspect and download through the device API, and that people upload through the management
API, the UI and ``manage.py content``.

``services`` owns every write, ``selectors`` the reads; ``storage`` is where the bytes go
(Django's storage API: local files by default, S3 when configured), ``ranges`` the HTTP Range
rules, ``packages`` the firmware package metadata, ``uploads`` the streaming upload handler.
"""
