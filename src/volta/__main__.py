from volta.cli import main

raise SystemExit(main())
