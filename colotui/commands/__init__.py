"""colotui's commands, one module each: its parser (``add_parser``) and its handler (``cmd_NAME``).

`colotui.cli` lists them. The options several commands share are defined once in `options`; what
builds a console (controller and app) is `console`, the one module that imports a controller.
"""
