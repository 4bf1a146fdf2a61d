"""The engine: calendar, schedule, status, reminder policy and the store every interface calls.

Never imports Prefect.
"""
