"""The ASGI server's thread pool for the device API's (synchronous, database-bound) work.

Handlers, batched long-poll checks and streamed downloads run here, so the event loop never
waits on the database, a file or S3. ``DEVICE_API_THREADS`` threads, created on first use.
"""

import asyncio
import contextvars
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings

from devices.device_api.envelope import fresh_connections

_executor: ThreadPoolExecutor | None = None


def executor() -> ThreadPoolExecutor:
    """This process's device API pool."""
    global _executor
    if _executor is None:
        _executor = ThreadPoolExecutor(
            max_workers=settings.DEVICE_API_THREADS, thread_name_prefix="device-api"
        )
    return _executor


async def run_sync(func, *args):
    """Run a (database-bound) handler in the device API's thread pool, with the per-request
    database connection hygiene around it (``envelope.fresh_connections``).

    Straight onto the executor with a copy of the context: asgiref's ``sync_to_async`` does the
    same plus bookkeeping for thread-sensitive code that these handlers don't need, and that
    bookkeeping showed up in profiles of thousands of long polls arriving at once."""
    context = contextvars.copy_context()
    return await asyncio.get_running_loop().run_in_executor(
        executor(), context.run, fresh_connections, func, *args
    )
