import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "arrears.settings")
application = get_wsgi_application()

from arrears.core.secret_key import require_secret_key  # noqa: E402

require_secret_key()  # a worker without a key would sign sessions and reset links with nothing

# A commit that writes outboxed events enqueues a dispatch task (arrears.events.services), and a dispatch the sending
# of its deliveries (arrears.notifications.tasks): import the task modules while the worker boots, not in the middle
# of its first such request.
import arrears.events.tasks  # noqa: E402, F401
import arrears.notifications.tasks  # noqa: E402, F401
