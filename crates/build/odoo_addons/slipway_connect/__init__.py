from . import controllers
