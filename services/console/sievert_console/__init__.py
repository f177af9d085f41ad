"""The Sievert console: web pages for the people who run the IR(ME)R incident workflow.

A client of the four public APIs, calling them with the signed-in person's own token. It keeps
no state but the person's session and never touches the services' databases.
"""
