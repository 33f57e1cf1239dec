"""The offline simulation: the program evaluated under mocks against a simulated workshop account
(harness, account, simulated cluster), what synth writes from it (plan, manifests, graph, timeline)
and the policy pack run over it. It imports the kernel and the CLI's file readers, never a command.
"""
