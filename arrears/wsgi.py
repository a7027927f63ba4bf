import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "arrears.settings")
application = get_wsgi_application()

# A commit that writes notifiable events enqueues a dispatch task (arrears.events.services): import the task
# modules while the worker boots, not in the middle of its first such request.
import arrears.events.tasks  # noqa: E402, F401
