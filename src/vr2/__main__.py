from vr2.cli.main import main

main()
