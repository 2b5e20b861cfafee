from django.db import models


class Note(models.Model):
    text = models.CharField(max_length=100)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        app_label = "djapp"
