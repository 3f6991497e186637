"""`manage.py seed_polls --questions N [--choices K]`: make the database hold
exactly questions "Question 1".."Question N", each with K choices.

Idempotent and cheap when already done (one COUNT query): the runner calls it
before every repetition. Votes are reset to 0 only with --reset-votes, so a
run can start from the same state every time if it asks for that.
"""
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from polls.models import Choice, Question


class Command(BaseCommand):
    help = "Create N poll questions with K choices each (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("--questions", type=int, default=10)
        parser.add_argument("--choices", type=int, default=3)
        parser.add_argument("--reset-votes", action="store_true")

    def handle(self, *args, questions, choices, reset_votes, **options):
        if questions < 1 or choices < 1:
            raise CommandError("--questions and --choices must be >= 1")
        wanted = [f"Question {i}" for i in range(1, questions + 1)]
        # Fast path: exactly the wanted questions, each with exactly K choices.
        have = Question.objects.count()
        complete = (have == questions
                    and Question.objects.filter(question_text__in=wanted).count() == questions
                    and Choice.objects.count() == questions * choices
                    and not Choice.objects.exclude(question__question_text__in=wanted).exists())
        if not complete:
            with transaction.atomic():
                # Rebuild from scratch: simpler than repairing, and only done once.
                Choice.objects.all().delete()
                Question.objects.all().delete()
                # One pub_date a second apart, in the past, so the index's
                # "latest five" order is stable and nothing is in the future.
                now = timezone.now()
                Question.objects.bulk_create(
                    Question(question_text=text, pub_date=now - timezone.timedelta(seconds=i))
                    for i, text in enumerate(wanted))
                Choice.objects.bulk_create(
                    Choice(question=q, choice_text=f"Choice {k}")
                    for q in Question.objects.order_by("id") for k in range(1, choices + 1))
        if reset_votes:
            Choice.objects.exclude(votes=0).update(votes=0)
        state = "created" if not complete else "already there"
        self.stdout.write(f"seed_polls: {questions} questions x {choices} choices {state}")
