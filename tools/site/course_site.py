"""A Sphinx extension for the course website (tools/site/conf.py loads it): the ``details``
directive, a folded block written as HTML's own <details> and <summary>."""
from docutils import nodes
from docutils.parsers.rst import Directive, directives


class details(nodes.Element):
    """A collapsed block: <details><summary>...</summary>...</details>."""


def visit_details(self, node):
    self.body.append(f'<details class="course-details"><summary>'
                     f'{self.encode(node["summary"])}</summary>\n')


def depart_details(self, node):
    self.body.append("</details>\n")


class Details(Directive):
    """``:::{details} Solution`` ... ``:::``: the notebooks' <details> blocks (exercise
    solutions, quick-question answers), collapsed as in JupyterLab (build_site.py converts
    them: MyST, like CommonMark, would end a raw <details> at its first blank line)."""
    has_content = True
    required_arguments = 1
    final_argument_whitespace = True
    option_spec = {"class": directives.class_option}

    def run(self):
        node = details(summary=self.arguments[0])
        self.state.nested_parse(self.content, self.content_offset, node)
        return [node]


def setup(app):
    app.add_node(details, html=(visit_details, depart_details))
    app.add_directive("details", Details)
    return {"parallel_read_safe": True}
