"""The tutorial's views (intro parts 3-5): generic index/detail/results and
the vote form handler. Sync views, as the seed's Django 3.0 app had to be:
under ASGI Django runs them in a thread, as it does the DRF view."""
from django.db.models import F
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.views import generic

from .models import Choice, Question


class IndexView(generic.ListView):
    template_name = 'polls/index.html'
    context_object_name = 'latest_question_list'

    def get_queryset(self):
        """The last five published questions (not those set in the future)."""
        return Question.objects.filter(pub_date__lte=timezone.now()).order_by('-pub_date')[:5]


class DetailView(generic.DetailView):
    model = Question
    template_name = 'polls/detail.html'

    def get_queryset(self):
        return Question.objects.filter(pub_date__lte=timezone.now())


class ResultsView(generic.DetailView):
    model = Question
    template_name = 'polls/results.html'


def vote(request, question_id):
    question = get_object_or_404(Question, pk=question_id)
    try:
        selected_choice = question.choice_set.get(pk=request.POST['choice'])
    except (KeyError, ValueError, Choice.DoesNotExist):
        # Redisplay the question voting form.
        return render(request, 'polls/detail.html', {
            'question': question,
            'error_message': "You didn't select a choice.",
        })
    else:
        # F(): the database adds 1, so concurrent votes are not lost.
        selected_choice.votes = F('votes') + 1
        selected_choice.save()
        # Always redirect after a successful POST (no double vote on reload).
        return HttpResponseRedirect(reverse('polls:results', args=(question.id,)))
