"""Reports the coordinator sends upward and the feeds units subscribe to.

- ``data``: the status report as plain data (groups per lead unit, the Government Office's
  split), read from the store; every format below is drawn from it.
- ``xlsx``: the Excel status report (openpyxl), for the People's Committee.
- ``ical``: iCalendar feeds of the deadlines and the event (icalendar).
- ``csv_export``: the status list as CSV, for people who pivot it themselves.
- ``summary``: the weekly summary email body (subject, HTML, text).

Nothing is imported here, so ``import tracking.reports.csv_export`` does not pull in
openpyxl or icalendar.
"""
