from arrears.events.models import Event


def events_of_subject(subject):
    return Event.objects.filter(subject_type=subject._meta.model_name, subject_id=subject.pk).order_by("id")
